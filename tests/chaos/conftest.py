"""Chaos fixtures: generated clips, a cluster per scenario, and the report `make chaos` writes.

`VODKIT_CHAOS_REPORT=docs/reliability.md` (what `make chaos` sets) writes every scenario's figures
there at the end of the session; without it nothing is written (the quick scenarios in `make test`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.cluster import Cluster, Figures, running
from tests.chaos.report import write_report
from tests.support import make_clip, need_rabbitmq

RESULTS: list[Figures] = []
LOAD: dict[str, Any] = {}


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of 640x360: one rung, encoded in a second or two."""
    return make_clip(tmp_path_factory.mktemp("chaos-media") / "short.mp4", seconds=6, width=640, height=360)


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 s of 854x480: an encode long enough to be caught in the middle."""
    return make_clip(tmp_path_factory.mktemp("chaos-media") / "long.mp4", seconds=40, width=854, height=480)


ClusterFactory = Callable[..., AbstractAsyncContextManager[Cluster]]


@pytest.fixture
def cluster(tmp_path: Path) -> ClusterFactory:
    """`async with cluster(**options) as c:` six supervised services (see `Cluster`)."""
    need_rabbitmq()
    count = 0

    def open_one(**options: Any) -> AbstractAsyncContextManager[Cluster]:
        nonlocal count
        count += 1
        return running(tmp_path / f"cluster-{count}", **options)

    return open_one


@pytest.fixture
def report() -> Callable[[Figures], None]:
    def record(figures: Figures) -> None:
        RESULTS.append(figures)
        print(f"chaos figures: {figures}")

    return record


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("VODKIT_CHAOS_REPORT")
    if target and RESULTS:
        command = "make chaos (" + " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv)) + ")"
        write_report(Path(target), RESULTS, LOAD, command, exitstatus)
