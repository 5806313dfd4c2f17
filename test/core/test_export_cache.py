"""The export cache's upkeep (issue 15): the first build says so once and the next use reuses it;
a corrupt export (a file deleted, bytes flipped, a truncated manifest) and a stale one (the
checkpoint retrained, older versions or format) are rebuilt with the reason in the log; two builders
at once build once; exports of other checkpoint files are kept. Tiny models on the tiny backbone."""

from __future__ import annotations

import json
import os
import shutil
import threading

import pytest
import torch
from tiny_models import tiny_config

from t2g_core import LabelSet, Provenance, build_model, save_checkpoint
from t2g_core import export as E
from t2g_core.export import cache as export_cache


def _save(path, seed: int):
    torch.manual_seed(seed)
    labels = LabelSet(
        names=tuple(f"c{i}" for i in range(5)), colors=tuple((i, i, i) for i in range(5)), void_id=5
    )
    save_checkpoint(path, build_model(tiny_config()), labels, Provenance(data="random init"))
    return path


@pytest.fixture()
def checkpoint(tmp_path):
    return _save(tmp_path / "tiny.pt", seed=0)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """One real export of a tiny model; the builds under test copy it (the cache is under test here,
    the exporter in test_export.py)."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("template") / "export"
    E.export_model(build_model(tiny_config()), folder, checkpoint_sha256="template")
    return folder


@pytest.fixture()
def counted(monkeypatch, template):
    """The exporter replaced by a copy of ``template`` (with the checkpoint's digest in its manifest):
    the list of its calls and a list for the log lines. ``counted.hold`` makes a build wait for it."""
    calls: list[int] = []
    lines: list[str] = []

    def export(model, folder, *, checkpoint_sha256, label_set):
        calls.append(1)
        hold.wait(timeout=10)
        shutil.copytree(template, folder)
        manifest = json.loads((folder / "manifest.json").read_text())
        labels = {"names": list(label_set.names), "colors": label_set.colors, "void_id": 5}
        (folder / "manifest.json").write_text(
            json.dumps({**manifest, "checkpoint_sha256": checkpoint_sha256, "labels": labels})
        )
        return E.load_manifest(folder)

    hold = threading.Event()
    hold.set()
    monkeypatch.setattr(export_cache, "export_model", export)
    return calls, lines, hold


def _exports(cache):
    return sorted(p.name for p in cache.iterdir() if not p.name.startswith("."))


def test_first_use_says_it_builds_once_and_the_next_use_reuses(checkpoint, tmp_path, counted):
    calls, lines, _ = counted
    cache = tmp_path / "cache"
    first = E.cached_export(checkpoint, cache_dir=cache, log=lines.append)
    assert len(lines) == 2 and len(calls) == 1, lines
    assert lines[0].startswith("building the onnxruntime export of tiny.pt (once, ~")
    assert str(first) in lines[0] and lines[0].endswith("...")
    assert lines[1].startswith("built the onnxruntime export of tiny.pt in ")
    assert E.cached_export(checkpoint, cache_dir=cache, log=lines.append) == first
    assert len(lines) == 2 and len(calls) == 1, "a valid export is reused without a word"


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda folder: (folder / "decode_m2.onnx").unlink(), "decode_m2.onnx: missing"),
        (lambda folder: _flip_bytes(folder / "encode.onnx"), "encode.onnx: contents differ"),
        (lambda folder: _truncate(folder / "manifest.json"), "unreadable manifest"),
    ],
    ids=["deleted_file", "flipped_bytes", "truncated_manifest"],
)
def test_a_corrupt_export_is_rebuilt_and_the_log_says_why(
    checkpoint, tmp_path, counted, damage, reason
):
    calls, lines, _ = counted
    cache = tmp_path / "cache"
    folder = E.cached_export(checkpoint, cache_dir=cache)
    damage(folder)
    with pytest.raises(E.ExportError):
        E.load_manifest(folder)
    assert E.cached_export(checkpoint, cache_dir=cache, log=lines.append) == folder
    assert len(calls) == 2 and "the cached one is unusable" in lines[0] and reason in lines[0]
    E.load_manifest(folder)  # whole again
    assert _exports(cache) == [folder.name]


def test_a_retrained_checkpoint_replaces_its_stale_export(checkpoint, tmp_path, counted):
    calls, lines, _ = counted
    cache = tmp_path / "cache"
    old = E.cached_export(checkpoint, cache_dir=cache)
    _save(checkpoint, seed=1)  # retrained in place: other bytes, same file
    new = E.cached_export(checkpoint, cache_dir=cache, log=lines.append)
    assert new != old and len(calls) == 2
    assert f"{old.name} is stale (the checkpoint changed (sha256 " in lines[0], lines
    assert _exports(cache) == [new.name], "the stale export is removed, the cache does not grow"


def test_an_export_from_older_versions_is_replaced_with_the_versions_named(
    checkpoint, tmp_path, counted
):
    calls, lines, _ = counted
    cache = tmp_path / "cache"
    built = E.cached_export(checkpoint, cache_dir=cache)
    # What an earlier format and onnxruntime left: another key, an older manifest.
    old = built.rename(cache / "tiny-0123456789abcdef")
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["format_version"] -= 1
    manifest["versions"]["onnxruntime"] = "1.0.0"
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert E.cached_export(checkpoint, cache_dir=cache, log=lines.append) == built
    now = E.FORMAT_VERSION
    assert f"{old.name} is stale (export format v{now - 1} -> v{now}; " in lines[0], lines
    assert "onnxruntime 1.0.0 -> " in lines[0]
    assert _exports(cache) == [built.name] and len(calls) == 2


def test_exports_of_other_checkpoint_files_are_kept(checkpoint, tmp_path, counted):
    cache = tmp_path / "cache"
    (tmp_path / "other").mkdir()
    other = _save(tmp_path / "other" / "tiny.pt", seed=2)  # same name, another file
    first = E.cached_export(checkpoint, cache_dir=cache)
    second = E.cached_export(other, cache_dir=cache)
    assert _exports(cache) == sorted([first.name, second.name])
    assert E.cached_export(checkpoint, cache_dir=cache) == first


def test_two_builders_at_once_build_once(checkpoint, tmp_path, counted):
    calls, lines, hold = counted
    cache = tmp_path / "cache"
    hold.clear()  # the first build lasts until the second builder says it waits (or 10 s)

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("waiting for another process"):
            hold.set()

    results: list = []
    threads = [
        threading.Thread(
            target=lambda: results.append(E.cached_export(checkpoint, cache_dir=cache, log=log))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 2 and results[0] == results[1]
    assert len(calls) == 1, "the second builder waited for the first and reused its export"
    assert sum(line.startswith("building") for line in lines) == 1, lines
    assert any(line.startswith("waiting for another process") for line in lines), lines
    assert _exports(cache) == [results[0].name]


def test_the_cache_folder_comes_from_the_environment(checkpoint, tmp_path, monkeypatch, counted):
    monkeypatch.setenv("T2G_EXPORT_CACHE", str(tmp_path / "mine"))
    assert E.default_cache_dir() == tmp_path / "mine"
    assert E.cached_export(checkpoint).parent == tmp_path / "mine"


def _symlink_to_nowhere(path) -> None:
    path.symlink_to(path.parent / "nowhere")


def _folder_of_junk(path) -> None:
    path.mkdir()
    (path / "notes.txt").write_text("not an export")


@pytest.mark.parametrize(
    "stray",
    [
        lambda path: path.write_text("a stray file"),
        _folder_of_junk,
        _symlink_to_nowhere,
    ],
    ids=["file", "folder", "dangling_link"],
)
def test_a_stray_entry_at_an_exports_name_is_removed_and_rebuilt(
    checkpoint, tmp_path, counted, stray
):
    """Issue 20 #15: a stray file there made every start fail with advice to fix permissions."""
    calls, lines, _ = counted
    cache = tmp_path / "cache"
    folder = E.cached_export(checkpoint, cache_dir=cache)
    shutil.rmtree(folder)
    stray(folder)
    assert E.cached_export(checkpoint, cache_dir=cache, log=lines.append) == folder
    assert folder.is_dir() and not folder.is_symlink() and len(calls) == 2
    assert "the cached one is unusable" in lines[0], lines
    E.load_manifest(folder)


@pytest.mark.parametrize("stray", [_folder_of_junk, _symlink_to_nowhere], ids=["folder", "link"])
def test_a_stray_entry_at_a_locks_name_is_removed(checkpoint, tmp_path, counted, stray):
    """Anything but a plain file at ``.<export>.lock`` cannot be locked: removed, then built."""
    calls, lines, _ = counted
    cache = tmp_path / "cache"
    folder = E.cached_export(checkpoint, cache_dir=cache)
    shutil.rmtree(folder)
    lock = cache / f".{folder.name}.lock"
    lock.unlink()
    stray(lock)
    assert E.cached_export(checkpoint, cache_dir=cache, log=lines.append) == folder
    assert lock.is_file() and not lock.is_symlink() and len(calls) == 2
    assert any(f"removed a stray entry (not a lock file) at {lock}" in line for line in lines)


def test_a_file_in_the_way_of_the_cache_folder_is_named_not_blamed_on_permissions(
    checkpoint, tmp_path, counted
):
    (tmp_path / "a_file").write_text("")
    for cache, cause in (
        (tmp_path / "a_file" / "cache", "Not a directory"),
        (tmp_path / "a_file", "File exists"),
    ):
        with pytest.raises(E.ExportError) as info:
            E.cached_export(checkpoint, cache_dir=cache)
        message = str(info.value)
        assert cause in message and "a file is where a folder should be" in message, message
        assert "writable" not in message, message


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_cache_folder_says_so(checkpoint, tmp_path, counted):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o500)
    with pytest.raises(
        E.ExportError, match="Permission denied.*not writable: set T2G_EXPORT_CACHE"
    ):
        E.cached_export(checkpoint, cache_dir=cache)


def _flip_bytes(path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    path.write_bytes(bytes(data))


def _truncate(path) -> None:
    path.write_bytes(path.read_bytes()[:40])
