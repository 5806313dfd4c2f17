"""A tiny synthetic stand-in for the ESPNetv2 Cityscapes peer folder, built with ``onnx.helper``.

Same contract as the real files (input ``image`` (1, 3, h, w) float32 normalised RGB, output ``logits``
(1, 20, h, w), one file per size named ``espnetv2_s2_cityscapes_{h}x{w}.onnx``, ``SHA256SUMS``), but
the network is one 1x1 convolution that makes the red value choose the class: channel c scores
``2 t_c x_R - t_c**2``, so the argmax is the class whose centre ``t_c`` is nearest the normalised red
``x_R``. :func:`red_for_class` gives the uint8 red value of each class, so a test knows the exact
trainId of every pixel, and a wrong normalisation picks other classes. Import it as
``from fake_peer import ...`` (``test/`` is on ``sys.path``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

NUM_CLASSES = 20
# Class centres in the normalised red channel ((r / 255 - 0.485) / 0.229 spans -2.12..2.25).
CENTRES = np.linspace(-2.0, 2.1, NUM_CLASSES)
SIZES = ((48, 64), (36, 64))  # 4:3 and 16:9, as the real 384x512 and 288x512


def red_for_class() -> np.ndarray:
    """(20,) uint8: the red value whose normalised value is class c's centre."""
    return np.round(255 * (CENTRES * 0.229 + 0.485)).astype(np.uint8)


def file_name(size: tuple[int, int]) -> str:
    return f"espnetv2_s2_cityscapes_{size[0]}x{size[1]}.onnx"


def peer_model_bytes(size: tuple[int, int], *, input_size: tuple[int, int] | None = None) -> bytes:
    """The serialised ONNX model for (h, w) ``size``; ``input_size`` declares another input shape
    (a file whose name lies about its size)."""
    import onnx
    from onnx import TensorProto, helper

    h, w = input_size or size
    weight = np.zeros((NUM_CLASSES, 3, 1, 1), np.float32)
    weight[:, 0, 0, 0] = 2 * CENTRES
    bias = (-(CENTRES**2)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "weight", "bias"], ["logits"])],
        "fake_espnetv2",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, NUM_CLASSES, h, w])],
        initializer=[
            helper.make_tensor("weight", TensorProto.FLOAT, weight.shape, weight.ravel()),
            helper.make_tensor("bias", TensorProto.FLOAT, bias.shape, bias),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_fake_peer(folder: Path, sizes=SIZES) -> Path:
    """Write the fake peer (one file per size, ``SHA256SUMS``) into ``folder``; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for size in sizes:
        data = peer_model_bytes(size)
        (folder / file_name(size)).write_bytes(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {file_name(size)}")
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def class_frame(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """An (h, w, 3) uint8 frame cycling through the 20 classes pixel by pixel, and its (h, w) trainIds."""
    h, w = size
    ids = (np.arange(h * w) % NUM_CLASSES).reshape(h, w)
    frame = np.zeros((h, w, 3), np.uint8)
    frame[..., 0] = red_for_class()[ids]
    frame[..., 1:] = 77  # other channels play no part
    return frame, ids
