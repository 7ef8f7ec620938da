"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import free_port


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the developer's ./data, nor their VODKIT_* settings."""
    for name in list(os.environ):
        if name.startswith("VODKIT_") and not name.startswith("VODKIT_TEST_") and name != "VODKIT_REQUIRE_SERVERS":
            monkeypatch.delenv(name)
    monkeypatch.setenv("VODKIT_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """An S3-compatible server (moto) on loopback: `http://ACCESS:SECRET@127.0.0.1:PORT`."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://testing:testing-secret@127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_url(s3_server: str) -> str:
    """A fresh bucket on the S3 server for one test."""
    return f"{s3_server}/vodkit-{uuid.uuid4().hex[:12]}"
