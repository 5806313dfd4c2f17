"""The shared resize contract: images bilinear, labels nearest, logits bilinear back to frame size."""

from __future__ import annotations

import numpy as np
import torch

from t2g_core import frames_to_tensor, resize_images, resize_labels, upsample_logits


def test_frames_to_tensor_layout_and_range():
    frame = np.zeros((4, 6, 3), dtype=np.uint8)
    frame[1, 2] = (10, 20, 255)
    x = frames_to_tensor(frame)
    assert x.shape == (1, 3, 4, 6) and x.dtype == torch.float32
    assert x[0, :, 1, 2].tolist() == [10.0, 20.0, 255.0]
    assert frames_to_tensor(frame[None, :, ::-1]).shape == (
        1,
        3,
        4,
        6,
    )  # negative strides are copied


def test_resize_images_keeps_leading_axes_and_identity():
    clip = torch.rand(2, 3, 3, 20, 30) * 255
    assert resize_images(clip, (20, 30)) is clip
    out = resize_images(clip, (10, 16))
    assert out.shape == (2, 3, 3, 10, 16)
    assert out.min() >= 0 and out.max() <= 255


def test_resize_labels_never_invents_ids():
    labels = torch.tensor([[0, 0, 11, 3], [3, 3, 11, 11]]).repeat(3, 1, 1)  # (3, 2, 4) int64
    out = resize_labels(labels, (5, 9))
    assert out.shape == (3, 5, 9) and out.dtype == torch.int64
    assert set(out.unique().tolist()) <= {0, 3, 11}


def test_upsample_logits_shape():
    logits = torch.randn(2, 4, 5, 3, 4)
    assert upsample_logits(logits, (24, 32)).shape == (2, 4, 5, 24, 32)
