"""int8 exports (t2g_core.export.quantize): QDQ only in the backbone, calibrated on train frames only,
labels close to fp32, the cache keyed by precision, clear errors. Tiny random models on the tiny test
backbone and a fake CamVid folder of synthetic frames, so no shared data is needed."""

from __future__ import annotations

import json
from functools import partial

import cv2
import numpy as np
import onnx
import pytest
from tiny_models import TINY_BACKBONE_PLAIN, camvid_config, save_tiny_checkpoint

from t2g_core import export as E
from t2g_core.data.calibration import camvid_calibration_frames
from t2g_core.export import quantize as Q
from t2g_core.inference import open_segmenter

QDQ = ("QuantizeLinear", "DequantizeLinear")


def _scene(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A road-like synthetic frame: a vertical gradient and a few flat rectangles. (H, W, 3) uint8."""
    height, width = size
    ramp = np.linspace(40, 220, height, dtype=np.float32)[:, None, None]
    image = np.broadcast_to(ramp * rng.uniform(0.6, 1.0, 3), (height, width, 3)).copy()
    for _ in range(4):
        y, x = rng.integers(0, height - 8), rng.integers(0, width - 8)
        image[y : y + rng.integers(8, height // 2), x : x + rng.integers(8, width // 2)] = (
            rng.uniform(0, 255, 3)
        )
    return image.astype(np.uint8)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """A shared-data folder holding ``camvid/`` with 6 train and 2 val frames (72x96 JPEGs)."""
    root = tmp_path_factory.mktemp("data")
    camvid = root / "camvid"
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("val", 2)):
        (camvid / split / "images").mkdir(parents=True)
        lines = []
        for i in range(count):
            name = f"0001TP_{i * 30:06d}"
            cv2.imwrite(str(camvid / split / "images" / f"{name}.jpg"), _scene(rng, (72, 96)))
            lines.append(f"{split}/images/{name}.jpg {split}/labels/{name}.png")
        (camvid / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    config = camvid_config(backbone=TINY_BACKBONE_PLAIN, input_size=(64, 96), memory_length=2)
    return save_tiny_checkpoint(folder / "tiny.pt", config, seed=3)


@pytest.fixture(scope="module")
def exports(checkpoint, data_root, tmp_path_factory):
    """(fp32 folder, int8 folder) in one cache, and the log lines of building them."""
    cache = tmp_path_factory.mktemp("cache")
    lines: list[str] = []
    fp32 = E.cached_export(checkpoint, cache_dir=cache, log=lines.append)
    int8 = E.cached_export(
        checkpoint,
        cache_dir=cache,
        log=lines.append,
        precision="int8",
        calibration=partial(camvid_calibration_frames, data_root),
    )
    return fp32, int8, lines


def test_int8_export_quantises_the_backbone_only(exports):
    fp32_dir, int8_dir, _ = exports
    fp32 = onnx.load(str(fp32_dir / "encode.onnx"))
    int8 = onnx.load(str(int8_dir / "encode.onnx"))

    # Outside the backbone every node is kept as it was (the quantiser drops Identity nodes, and in
    # the backbone the ReLUs its quantised ranges make redundant).
    def heads(model):
        return sorted(
            n.name
            for n in model.graph.node
            if n.op_type not in (*QDQ, "Identity") and not n.name.startswith(Q.BACKBONE_SCOPE)
        )

    assert heads(int8) == heads(fp32)
    producer = {out: n for n in int8.graph.node for out in n.output}
    weights = {init.name for init in int8.graph.initializer}
    quantize = [n for n in int8.graph.node if n.op_type == "QuantizeLinear"]
    assert quantize, "no activation is quantised"
    for node in quantize:
        source = producer.get(node.input[0])
        assert node.input[0] in weights or source.name.startswith(Q.BACKBONE_SCOPE), (
            f"{node.name} quantises {node.input[0]}, made by {source.name} outside the backbone"
        )
    consumers = {}
    for node in int8.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    dequantized_weights = {
        n.name for n in int8.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in weights
    }
    convs = [n for n in int8.graph.node if n.op_type == "Conv"]
    quantised = set(Q.backbone_nodes(fp32))
    assert quantised and all(name.startswith(Q.BACKBONE_SCOPE) for name in quantised)
    backbone_convs = [n for n in convs if n.name.startswith(Q.BACKBONE_SCOPE)]
    assert backbone_convs and len(backbone_convs) < len(convs), "the heads have convs too"
    for conv in convs:
        weight = producer.get(conv.input[1])
        int8_weight = weight is not None and weight.name in dequantized_weights
        assert int8_weight == (conv.name in quantised), conv.name
    # The decoders and the fusion graph are the fp32 ones, byte for byte.
    for name in E.load_manifest(fp32_dir).files:
        if name != "encode.onnx":
            assert (int8_dir / name).read_bytes() == (fp32_dir / name).read_bytes(), name


def test_int8_export_records_its_train_calibration(exports, data_root):
    _, int8_dir, _ = exports
    record = json.loads((int8_dir / Q.QUANTIZATION_FILE).read_text())
    lines = (data_root / "camvid" / "train.txt").read_text().splitlines()
    names = {line.split()[0].split("/")[-1].removesuffix(".jpg") for line in lines}
    assert record["precision"] == "int8" and record["calibration_split"] == "train"
    assert record["calibration_frames"] == 6 and set(record["calibration_images"]) == names
    assert E.load_manifest(int8_dir).files["encode.onnx"] == E.file_sha256(int8_dir / "encode.onnx")
    assert Q.export_precision(int8_dir) == "int8" and Q.export_precision(exports[0]) == "fp32"


def test_int8_labels_agree_with_fp32(checkpoint, exports, data_root):
    fp32_dir, _, _ = exports
    cache = fp32_dir.parent
    opened = {
        p: open_segmenter(
            checkpoint,
            backend="onnxruntime",
            threads=1,
            precision=p,
            cache_dir=cache,
            max_gap_s=1.0,
        )
        for p in Q.PRECISIONS
    }
    rng = np.random.default_rng(7)
    agree = []
    for t in range(4):
        frame = _scene(rng, (72, 96))
        labels = {p: s.step(frame, 0.1 * t).labels for p, s in opened.items()}
        agree.append(float((labels["fp32"] == labels["int8"]).mean()))
    assert min(agree) > 0.9, agree


def test_the_cache_is_keyed_by_precision(checkpoint, exports, data_root):
    fp32_dir, int8_dir, lines = exports
    assert fp32_dir != int8_dir and fp32_dir.parent == int8_dir.parent
    assert "-int8-" in int8_dir.name and "-int8-" not in fp32_dir.name
    assert sum("quantising" in line for line in lines) == 1, lines
    cache = fp32_dir.parent
    again: list[str] = []
    for precision, folder in (("fp32", fp32_dir), ("int8", int8_dir)):
        found = E.cached_export(
            checkpoint,
            cache_dir=cache,
            log=again.append,
            precision=precision,
            calibration=partial(camvid_calibration_frames, data_root),
        )
        assert found == folder
    assert again == [], "valid exports are reused silently"
    # An int8 folder that lost its quantisation record is damaged (the manifest hashes it): rebuilt.
    (int8_dir / Q.QUANTIZATION_FILE).unlink()
    rebuilt = E.cached_export(
        checkpoint,
        cache_dir=cache,
        log=again.append,
        precision="int8",
        calibration=partial(camvid_calibration_frames, data_root),
    )
    assert rebuilt == int8_dir and Q.export_precision(int8_dir) == "int8"
    assert any("quantization.json: missing from the export" in line for line in again), again


def test_bad_precision_and_int8_on_torch_are_clear_errors(checkpoint, tmp_path, capsys):
    with pytest.raises(ValueError, match="precision 'int4' is not available; use 'fp32' or 'int8'"):
        open_segmenter(checkpoint, backend="onnxruntime", precision="int4")
    with pytest.raises(ValueError, match="precision 'int4' is not available"):
        E.cached_export(checkpoint, cache_dir=tmp_path, precision="int4")
    with pytest.raises(ValueError, match="precision 'int8' needs backend 'onnxruntime'"):
        open_segmenter(checkpoint, backend="torch", precision="int8")
    with pytest.raises(SystemExit):
        E.main(["--checkpoint", str(checkpoint), "--precision", "int4"])
    assert "invalid choice: 'int4'" in capsys.readouterr().err


def test_int8_without_calibration_frames_says_what_is_missing(checkpoint, tmp_path):
    with pytest.raises(E.ExportError, match="int8 calibration needs the CamVid train frames"):
        E.cached_export(
            checkpoint,
            cache_dir=tmp_path,
            precision="int8",
            calibration=partial(camvid_calibration_frames, tmp_path / "nowhere"),
        )
    with pytest.raises(E.ExportError, match="an int8 export needs calibration frames"):
        E.cached_export(checkpoint, cache_dir=tmp_path, precision="int8")


def test_quantisation_and_the_cache_read_no_data():
    """The export code takes calibration frames; reading them is the caller's (t2g_core.data)."""
    import ast
    import inspect

    from t2g_core.export import cache

    for module in (Q, cache):
        tree = ast.parse(inspect.getsource(module))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not any("data" in (name or "").split(".") for name in imported), imported


def test_cli_writes_an_int8_export(checkpoint, data_root, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--checkpoint", str(checkpoint), "--out", str(out), "--precision", "int8"]
    assert E.main([*argv, "--data-root", str(data_root)]) == 0
    manifest = E.load_manifest(out)
    assert f"(int8, {len(manifest.files)} graphs" in capsys.readouterr().out
    assert Q.export_precision(out) == "int8"
    assert manifest.checkpoint_sha256 == E.file_sha256(checkpoint)


def test_layers_at_the_float_stride_or_finer_stay_float():
    """A chain of three stride-2 convs (and a ReLU after each): with a float stride of 4 the layers
    from the one that goes coarser than stride 4 on are quantised, the two before it stay float; the
    recipe's float stride of 1 quantises them all; the head is never quantised."""
    from onnx import TensorProto, helper

    nodes, previous = [], "x"
    for i in range(3):
        nodes.append(
            helper.make_node(
                "Conv", [previous, f"w{i}"], [f"c{i}"], f"/backbone/conv{i}/Conv", strides=[2, 2]
            )
        )
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"], f"/backbone/conv{i}/Relu"))
        previous = f"r{i}"
    nodes.append(helper.make_node("Relu", [previous], ["y"], "/head/Relu"))
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph)
    assert Q.backbone_nodes(model, float_max_stride=4) == [
        "/backbone/conv2/Conv",
        "/backbone/conv2/Relu",
    ]
    assert Q.FLOAT_MAX_STRIDE == 1
    assert Q.backbone_nodes(model) == [n.name for n in nodes if n.name.startswith("/backbone/")]


@pytest.mark.parametrize(
    ("flags", "vnni"),
    [("fpu avx2 avx512f", False), ("fpu avx2 avx512_vnni", True), ("fpu avx2 avx_vnni", True)],
)
def test_the_recipe_reduces_the_weight_range_only_without_vnni(tmp_path, flags, vnni):
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert Q.has_vnni(info) is vnni
    assert Q.RECIPE["reduce_range"] is (not Q.has_vnni())
