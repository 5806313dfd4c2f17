"""The frozen backbone as an onnxruntime session, for building feature banks.

A bank runs the backbone over thousands of augmented training frames. The backbone never trains, so
the same weights exported to ONNX give the same maps (float32 round-off aside) about 6x faster on these
CPUs than eager torch. ``OrtBackbone`` is a drop-in for ``FrozenBackbone.__call__`` at one fixed
input size.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from t2g_core.export.graph_surgery import fold_pads_into_convs
from t2g_core.modeling.backbones import FrozenBackbone

_OPSET = 17


class OrtBackbone:
    """``backbone`` exported once for (H, W) = ``input_size`` with a dynamic batch, run by onnxruntime.

    Args:
        backbone: the frozen backbone (its export-friendly form is traced).
        input_size: (H, W) of every batch it will see.
        threads: onnxruntime intra-op threads.

    Calling it with (N, 3, H, W) float32 RGB 0..255 returns ``{stride: (N, C, ceil(H/s), ceil(W/s))}``
    float32 tensors, like the backbone.
    """

    def __init__(
        self, backbone: FrozenBackbone, *, input_size: tuple[int, int], threads: int
    ) -> None:
        import onnxruntime as ort

        self.input_size = tuple(input_size)
        self.strides = tuple(sorted(backbone.out_channels))
        with tempfile.TemporaryDirectory(prefix="t2g_backbone_") as folder:
            path = Path(folder) / "backbone.onnx"
            with warnings.catch_warnings(), backbone.export_friendly(self.input_size):
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    _Maps(backbone, self.strides),
                    (torch.zeros(1, 3, *self.input_size),),
                    str(path),
                    dynamo=False,
                    opset_version=_OPSET,
                    input_names=["images"],
                    output_names=[f"s{s}" for s in self.strides],
                    dynamic_axes={"images": {0: "n"}},
                )
            fold_pads_into_convs(path)
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # Spinning threads steal the core other work needs (measured in results/speed.md).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )

    def __call__(self, images: torch.Tensor) -> dict[int, torch.Tensor]:
        if tuple(images.shape[2:]) != self.input_size:
            raise ValueError(
                f"images must be (N, 3, {self.input_size[0]}, {self.input_size[1]}), "
                f"got {tuple(images.shape)}"
            )
        outputs = self._session.run(
            None, {"images": np.ascontiguousarray(images.numpy(), dtype=np.float32)}
        )
        return {s: torch.from_numpy(o) for s, o in zip(self.strides, outputs)}


class _Maps(torch.nn.Module):
    """The backbone's dict output as a tuple in stride order (ONNX outputs are positional)."""

    def __init__(self, backbone: FrozenBackbone, strides: tuple[int, ...]) -> None:
        super().__init__()
        self.backbone = backbone
        self.strides = strides

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        maps = self.backbone(images)
        return tuple(maps[s] for s in self.strides)
