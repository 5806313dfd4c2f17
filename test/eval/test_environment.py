"""t2g_core.evaluation.environment: the one CPU-name, core, load and commit reader every report uses."""

from __future__ import annotations

import subprocess

from t2g_core.cpuinfo import cpu_flags, cpu_model
from t2g_core.evaluation.environment import (
    describe_machine,
    git_commit,
    load_average,
)

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Test CPU @ 2.00GHz
flags\t\t: fpu sse avx2 avx512f

processor\t: 1
model name\t: Other CPU
flags\t\t: fpu
"""


def test_cpu_model_and_flags_come_from_the_first_cpu(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(CPUINFO)
    assert cpu_model(info) == "Test CPU @ 2.00GHz"
    assert cpu_flags(info) == {"fpu", "sse", "avx2", "avx512f"}


def test_a_missing_cpuinfo_falls_back_without_failing(tmp_path):
    missing = tmp_path / "absent"
    assert isinstance(cpu_model(missing), str) and cpu_model(missing)
    assert cpu_flags(missing) == set()


def test_machine_description_has_what_the_reports_print():
    machine = describe_machine()
    assert set(machine) == {"cpu", "cores", "load_average"}
    assert machine["cores"] >= 1 and len(load_average()) == 3


def test_git_commit_names_head_and_a_dirty_tree(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()
    assert git_commit(tmp_path) == head
    (tmp_path / "a.txt").write_text("2")
    assert git_commit(tmp_path) == f"{head}-dirty"
    assert git_commit(tmp_path / "not_a_repo_dir") == "unknown"
