"""The frozen-backbone contract: RGB 0..255 images in, feature maps at strides 4, 8, 16 and 32 out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

# Stride 4 feeds only the detail path (``t2g_core.modeling.detail_refiner``); 8, 16 and 32 feed the decoder.
STRIDES = (4, 8, 16, 32)


class FrozenBackbone(nn.Module):
    """A pretrained feature extractor that never trains.

    Contract for subclasses:
      - ``out_channels`` maps each stride in ``STRIDES`` to the channel count of that map;
      - ``normalize`` turns RGB 0..255 into the network's input (the backbone owns normalisation);
      - ``extract`` returns ``{stride: (N, out_channels[stride], ceil(H / stride), ceil(W / stride))}``;
      - the subclass calls ``self._freeze()`` at the end of ``__init__``, after loading its weights;
      - optionally, ``export_friendly`` switches to a form that exports to a faster ONNX graph.

    Frozen means: every parameter has ``requires_grad=False``, the module stays in eval mode whatever
    ``train()`` is asked (BatchNorm statistics never move), and ``forward`` runs under ``torch.no_grad()``
    so no autograd graph is ever built through it.
    """

    def __init__(self, *, out_channels: dict[int, int]) -> None:
        super().__init__()
        if set(out_channels) != set(STRIDES):
            raise ValueError(
                f"out_channels must have exactly the strides {STRIDES}, got {sorted(out_channels)}"
            )
        self.out_channels = dict(out_channels)

    def _freeze(self) -> None:
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> FrozenBackbone:
        """Ignore ``mode``: a frozen backbone is in eval mode forever."""
        return super().train(False)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float32 RGB 0..255 -> the network's normalised input, same shape."""
        raise NotImplementedError

    def extract(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Normalised (N, 3, H, W) -> ``{stride: (N, C_stride, ceil(H / stride), ceil(W / stride))}``."""
        raise NotImplementedError

    @contextmanager
    def export_friendly(self, input_size: tuple[int, int]) -> Iterator[None]:
        """Inside the context, run in a form that exports to a faster ONNX graph at ``input_size``.

        ``input_size`` is (H, W). The exporter enters it while tracing the encoder, which only ever
        sees ``input_size`` images; the results must stay the same. Default: no change.
        """
        yield

    def forward(self, images: torch.Tensor) -> dict[int, torch.Tensor]:
        """Multi-scale features of an image batch.

        Args:
            images: (N, 3, H, W) float32 RGB in 0..255.

        Returns:
            ``{4: f4, 8: f8, 16: f16, 32: f32}``, f_s of shape (N, out_channels[s], ceil(H / s), ceil(W / s)),
            float32, not requiring grad.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W), got shape {tuple(images.shape)}")
        with torch.no_grad():
            return self.extract(self.normalize(images))
