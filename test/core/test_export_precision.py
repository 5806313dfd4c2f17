"""An export's precision is bound to its hashed manifest (issue 20 #16): int8 files in an fp32
export are found damaged and rebuilt, and an int8 build never starts from int8 files. A real
tiny export and a real int8 quantisation of it (random calibration frames, no CamVid needed)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from tiny_models import TINY_BACKBONE_PLAIN, camvid_config, save_tiny_checkpoint

from t2g_core import export as E
from t2g_core.export import quantize as Q

QDQ = ("QuantizeLinear", "DequantizeLinear")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(checkpoint, a cache holding its fp32 export, that export, an int8 export made from it)."""
    root = tmp_path_factory.mktemp("precision")
    config = camvid_config(backbone=TINY_BACKBONE_PLAIN, input_size=(64, 96), memory_length=2)
    checkpoint = save_tiny_checkpoint(root / "tiny.pt", config, seed=3)
    fp32 = E.cached_export(checkpoint, cache_dir=root / "cache")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(3)]
    int8 = Q.quantize_export(fp32, root / "int8", frames=frames)
    return checkpoint, root / "cache", fp32, int8


@pytest.fixture()
def cache(built, tmp_path):
    """Copies of the module's exports, for tests that damage them: (checkpoint, cache, fp32, int8)."""
    checkpoint, cache, fp32, int8 = built
    shutil.copytree(cache, tmp_path / "cache")
    shutil.copytree(int8, tmp_path / "int8")
    return checkpoint, tmp_path / "cache", tmp_path / "cache" / fp32.name, tmp_path / "int8"


def _quantised(folder) -> bool:
    graph = onnx.load(str(folder / E.ENCODE_FILE), load_external_data=False).graph
    return any(node.op_type in QDQ for node in graph.node)


def test_the_manifest_records_the_precision_and_hashes_the_quantisation_record(built):
    checkpoint, _, fp32, int8 = built
    fp32_manifest, int8_manifest = E.load_manifest(fp32), E.load_manifest(int8)
    assert (fp32_manifest.precision, int8_manifest.precision) == ("fp32", "int8")
    assert json.loads((fp32 / E.MANIFEST).read_text())["precision"] == "fp32"
    assert Q.QUANTIZATION_FILE not in fp32_manifest.files
    assert int8_manifest.files[Q.QUANTIZATION_FILE] == E.file_sha256(int8 / Q.QUANTIZATION_FILE)
    assert int8_manifest.checkpoint_sha256 == fp32_manifest.checkpoint_sha256
    assert fp32_manifest.checkpoint_sha256 == E.file_sha256(checkpoint)
    assert _quantised(int8) and not _quantised(fp32)


@pytest.mark.parametrize("with_record", [False, True], ids=["without_record", "with_record"])
def test_int8_files_in_an_fp32_export_are_found_damaged_and_rebuilt(cache, with_record):
    """The probe: an int8 export's graph and manifest copied over the fp32 one loaded as fp32."""
    checkpoint, folder_cache, fp32, int8 = cache
    names = [E.ENCODE_FILE, E.MANIFEST] + ([Q.QUANTIZATION_FILE] if with_record else [])
    for name in names:
        shutil.copyfile(int8 / name, fp32 / name)
    lines: list[str] = []
    assert E.cached_export(checkpoint, cache_dir=folder_cache, log=lines.append) == fp32
    assert lines and "the cached one is unusable" in lines[0], lines
    assert E.load_manifest(fp32).precision == "fp32" and not _quantised(fp32)
    assert not (fp32 / Q.QUANTIZATION_FILE).exists()


def test_a_quantisation_record_left_in_an_fp32_export_is_damage(cache):
    _, _, fp32, int8 = cache
    shutil.copyfile(int8 / Q.QUANTIZATION_FILE, fp32 / Q.QUANTIZATION_FILE)
    with pytest.raises(E.ExportError, match="holds quantization.json but its manifest says fp32"):
        E.load_manifest(fp32)


def test_an_edited_quantisation_record_or_precision_is_damage(cache):
    _, _, _, int8 = cache
    record = int8 / Q.QUANTIZATION_FILE
    record.write_text(record.read_text().replace('"int8"', '"fp32"'))
    with pytest.raises(E.ExportError, match="quantization.json: contents differ"):
        E.load_manifest(int8)
    manifest = json.loads((int8 / E.MANIFEST).read_text())
    del manifest["precision"]
    (int8 / E.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(E.ExportError, match="unreadable manifest .*precision None"):
        E.load_manifest(int8)


def test_an_int8_build_never_starts_from_int8_files(cache, tmp_path):
    _, _, fp32, int8 = cache
    frames = [np.zeros((64, 96, 3), np.uint8)]
    with pytest.raises(E.ExportError, match=r"already quantised \(int8\)"):
        Q.quantize_export(int8, tmp_path / "twice", frames=frames)
    # int8 graphs under a manifest rewritten to say fp32 (hashes matching): the graph tells.
    shutil.copyfile(int8 / E.ENCODE_FILE, fp32 / E.ENCODE_FILE)
    manifest = json.loads((fp32 / E.MANIFEST).read_text())
    manifest["files"][E.ENCODE_FILE] = E.file_sha256(fp32 / E.ENCODE_FILE)
    (fp32 / E.MANIFEST).write_text(json.dumps(manifest))
    assert E.load_manifest(fp32).precision == "fp32"
    with pytest.raises(E.ExportError, match="already holds quantisation nodes"):
        Q.quantize_export(fp32, tmp_path / "from_int8", frames=frames)
