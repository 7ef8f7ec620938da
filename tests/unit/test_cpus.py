"""The CPUs a transcoder sizes its ffmpeg threads by: the container's limit, not the node's cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vodkit_shared.cpus import available_cpus, quota_cpus

pytestmark = pytest.mark.unit
ALLOWED = len(os.sched_getaffinity(0))


def test_a_cgroup_v2_quota_is_read_as_cpus() -> None:
    assert quota_cpus("200000 100000\n") == 2.0
    assert quota_cpus("50000 100000") == 0.5
    assert quota_cpus("max 100000") is None
    assert quota_cpus("garbage") is None


def test_a_fractional_limit_rounds_up_and_never_exceeds_the_cpus_allowed(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert available_cpus(tmp_path) == 1
    (tmp_path / "cpu.max").write_text(f"{(ALLOWED + 8) * 100000} 100000\n")
    assert available_cpus(tmp_path) == ALLOWED


def test_a_cgroup_v1_quota_is_read_too(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert available_cpus(tmp_path) == 1
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # no limit
    assert available_cpus(tmp_path) == ALLOWED


def test_without_a_limit_it_is_the_cpus_the_process_may_run_on(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert available_cpus(tmp_path) == ALLOWED
    assert available_cpus(tmp_path / "missing") == ALLOWED
