"""ONNX export: the graphs load in onnxruntime with the documented shapes and equal the torch model; the
manifest catches missing, corrupt and foreign files; the cache reuses a valid export and rebuilds a bad
one; the CLI. Tiny randomly initialised models on the tiny test backbone (the full-size model is in
test_ort_parity.py)."""

from __future__ import annotations

import json
from contextlib import contextmanager

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from tiny_models import tiny_config

from t2g_core import (
    LabelSet,
    Provenance,
    build_model,
    frames_to_tensor,
    resize_images,
    save_checkpoint,
)
from t2g_core import export as E
from t2g_core.export import cache as export_cache


def _labels(k: int = 5) -> LabelSet:
    return LabelSet(
        names=tuple(f"c{i}" for i in range(k)), colors=tuple((i, i, i) for i in range(k)), void_id=k
    )


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return build_model(tiny_config()).eval()


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    return folder, E.export_model(tiny_model, folder, checkpoint_sha256="abc")


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_manifest_describes_the_files(exported, tiny_model):
    folder, manifest = exported
    assert set(manifest.files) == {
        "encode.onnx",
        "decode_m1.onnx",
        "decode_m2.onnx",
        "decode_m3.onnx",
    }
    assert (
        manifest.input_size == (32, 48)
        and manifest.memory_capacity == 3
        and manifest.num_classes == 5
    )
    assert manifest.embedding_size == (4, 6) and manifest.dim == 16 and manifest.num_layers == 2
    assert manifest.num_tokens == 1 * 2 + 2 * 3  # strides 32 and 16 of a 32x48 input
    assert set(manifest.versions) == {"torch", "onnx", "onnxruntime"}
    # Position encodings depend on the fixed input size only: constants, not recomputed per frame.
    ops = {n.op_type for n in onnx.load(str(folder / "encode.onnx")).graph.node}
    assert not ops & {"Sin", "Cos", "Range"}, ops
    assert E.load_manifest(folder) == manifest
    assert json.loads((folder / "manifest.json").read_text())["format"] == "t2g-onnx"


@pytest.mark.parametrize("frame_size", [(32, 48), (40, 52), (17, 23)])
def test_encode_graph_equals_encode_frames_at_any_frame_size(exported, tiny_model, frame_size):
    folder, manifest = exported
    frame = np.random.default_rng(1).integers(0, 256, (*frame_size, 3), dtype=np.uint8)
    embedding, *memory = _session(folder / "encode.onnx").run(None, {"frame": frame})
    layers, heads = manifest.num_layers, manifest.num_heads
    keys, values = memory[:layers], memory[layers:]
    assert embedding.shape == (1, 16, 4, 6) and embedding.dtype == np.float32
    assert len(keys) == len(values) == layers == 2 and heads == 2
    assert all(k.shape == (1, heads, 16 // heads, manifest.num_tokens) for k in keys)
    assert all(v.shape == (1, heads, manifest.num_tokens, 16 // heads) for v in values)
    with torch.no_grad():
        expected = tiny_model.encode_frames(
            resize_images(frames_to_tensor(frame), tiny_model.input_size)
        )
    np.testing.assert_allclose(embedding, expected.pixel_embedding.numpy(), atol=1e-4)
    # Head h of layer l: channels h*d/h..(h+1)*d/h of the (N_tok, d) keys and values, keys transposed.
    for layer in range(layers):
        for head in range(heads):
            channels = slice(head * 8, (head + 1) * 8)
            k = expected.memory_keys[layer][0, :, channels].numpy()
            v = expected.memory_values[layer][0, :, channels].numpy()
            np.testing.assert_allclose(keys[layer][0, head], k.T, atol=1e-4)
            np.testing.assert_allclose(values[layer][0, head], v, atol=1e-4)


@pytest.mark.parametrize("memory", [1, 3])
def test_decode_graph_equals_decode(exported, tiny_model, memory):
    folder, manifest = exported
    rng = np.random.default_rng(memory)
    frames = [rng.integers(0, 256, (32, 48, 3), dtype=np.uint8) for _ in range(memory)]
    with torch.no_grad():
        feats = [tiny_model.encode_frames(frames_to_tensor(f)) for f in frames]
        offsets = torch.tensor([[-0.1 * (memory - 1 - m) for m in range(memory)]])
        expected = tiny_model.decode(feats[-1], feats, offsets).numpy()
    # Per layer, the M frames stacked in the encoder's layout (what the ring buffer holds).
    split = [
        tiny_model.trainable["memory_decoder"].split_heads(f.memory_keys, f.memory_values)
        for f in feats
    ]
    layers = manifest.num_layers
    pieces = [np.concatenate([k[layer].numpy() for k, _ in split]) for layer in range(layers)]
    pieces += [np.concatenate([v[layer].numpy() for _, v in split]) for layer in range(layers)]
    session = _session(folder / f"decode_m{memory}.onnx")
    names = E.decode_inputs(manifest.num_layers, detail=False)
    assert [i.name for i in session.get_inputs()] == list(names)
    assert names[2:] == ("memory_keys_0", "memory_keys_1", "memory_values_0", "memory_values_1")
    (logits,) = session.run(
        None, dict(zip(names, [feats[-1].pixel_embedding.numpy(), offsets.numpy(), *pieces]))
    )
    assert logits.shape == (1, 5, 4, 6)
    np.testing.assert_allclose(logits, expected, atol=1e-4)


def test_load_manifest_names_missing_corrupt_and_foreign_exports(exported, tmp_path):
    import shutil

    folder, _ = exported
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    data = bytearray((broken / "decode_m2.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (broken / "decode_m2.onnx").write_bytes(bytes(data))
    with pytest.raises(E.ExportError, match=r"decode_m2.onnx: contents differ from the manifest"):
        E.load_manifest(broken)
    (broken / "decode_m2.onnx").unlink()
    with pytest.raises(E.ExportError, match=r"decode_m2.onnx: missing"):
        E.load_manifest(broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    (broken / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(E.ExportError, match="version 99"):
        E.load_manifest(broken)
    (broken / "manifest.json").write_text("{not json")
    with pytest.raises(E.ExportError, match="unreadable manifest"):
        E.load_manifest(broken)
    (broken / "manifest.json").unlink()
    with pytest.raises(E.ExportError, match="no manifest.json"):
        E.load_manifest(broken)


def test_cache_reuses_a_valid_export_and_rebuilds_a_corrupt_one(tiny_model, tmp_path, monkeypatch):
    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(checkpoint, tiny_model, _labels(), Provenance(data="random init"))
    cache = tmp_path / "cache"
    exports, lines = [], []
    real_export = export_cache.export_model
    monkeypatch.setattr(
        export_cache, "export_model", lambda *a, **k: exports.append(1) or real_export(*a, **k)
    )

    first = E.cached_export(checkpoint, cache_dir=cache, log=lines.append)
    assert first.parent == cache and first.name.startswith("tiny-") and len(exports) == 1
    assert E.load_manifest(first).checkpoint_sha256 == E.file_sha256(checkpoint)
    assert E.cached_export(checkpoint, cache_dir=cache) == first and len(exports) == 1, (
        "a valid export is reused"
    )

    (first / "encode.onnx").write_bytes(b"truncated")
    assert (
        E.cached_export(checkpoint, cache_dir=cache, log=lines.append) == first
        and len(exports) == 2
    )
    assert "unusable" in lines[-2] and "encode.onnx" in lines[-2]
    E.load_manifest(first)  # rebuilt whole
    left = [p.name for p in cache.iterdir() if p.suffix != ".lock"]
    assert left == [first.name], "no temporary directories left behind"

    # Another checkpoint (other bytes) gets another directory.
    torch.manual_seed(1)
    other = build_model(tiny_model.config)
    save_checkpoint(tmp_path / "tiny.pt", other, _labels(), Provenance(data="random init"))
    assert E.cached_export(checkpoint, cache_dir=cache) != first


def test_cache_errors_are_clear(tiny_model, tmp_path):
    with pytest.raises(E.ExportError, match="no such checkpoint file"):
        E.cached_export(tmp_path / "missing.pt", cache_dir=tmp_path)
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(E.ExportError, match="not a readable weights-only torch file"):
        E.cached_export(tmp_path / "garbage.pt", cache_dir=tmp_path)
    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(checkpoint, tiny_model, _labels(), Provenance(data="random init"))
    (tmp_path / "a_file").write_text("")
    with pytest.raises(E.ExportError, match="cannot write the ONNX export cache"):
        E.cached_export(checkpoint, cache_dir=tmp_path / "a_file" / "cache")


def test_cli_exports_and_reports_errors(tiny_model, tmp_path, capsys):
    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(checkpoint, tiny_model, _labels(), Provenance(data="random init"))
    assert E.main(["--checkpoint", str(checkpoint), "--out", str(tmp_path / "out")]) == 0
    assert "4 graphs" in capsys.readouterr().out
    assert E.load_manifest(tmp_path / "out").checkpoint_sha256 == E.file_sha256(checkpoint)
    assert E.main(["--checkpoint", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x")]) == 1
    assert "no such checkpoint file" in capsys.readouterr().err


def test_exporter_traces_the_encoder_inside_the_backbone_export_hook(
    tiny_model, tmp_path, monkeypatch
):
    """The exporter names no backbone: it enters ``backbone.export_friendly(input_size)`` around the trace."""
    entered = []
    backbone_type = type(tiny_model.backbone)

    @contextmanager
    def recording(self, input_size):
        entered.append((self, tuple(input_size)))
        yield

    monkeypatch.setattr(backbone_type, "export_friendly", recording)
    E.export_model(tiny_model, tmp_path / "export")
    assert entered == [(tiny_model.backbone, tuple(tiny_model.input_size))]
