"""Processes for the end-to-end tests: `vodkit up`, or each service on its own over RabbitMQ and S3."""

from __future__ import annotations

import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.pipeline import VODKIT, service_env, user_token
from tests.support import free_port, make_clip, need_rabbitmq

SERVICES = ["upload", "transcoder", "packager", "storage-tiering", "cdn-purge", "gateway"]


@dataclass
class Deployment:
    base_url: str
    env: dict[str, str]
    logs: list[Path]
    ports: dict[str, int] = field(default_factory=dict)
    pid: int | None = None  # of `vodkit up`, whose memory the large-upload test watches
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)  # by service, or "up"

    def token(self, user: str) -> str:
        return user_token(self.env, user)


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 seconds of 1280x720 with motion, noise and a tone."""
    return make_clip(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=8, width=1280, height=720)


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 s of 1280x720: long enough for an early preview (10 s and over)."""
    return make_clip(tmp_path_factory.mktemp("media") / "long.mp4", seconds=16, width=1280, height=720)


def _wait_healthy(url: str, processes: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process, log in zip(processes, logs, strict=False):
            if process.poll() is not None:
                raise RuntimeError(f"{process.args} exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {timeout}s")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)


def _embedded(tmp_path_factory: pytest.TempPathFactory, name: str, **settings: str) -> Iterator[Deployment]:
    """`vodkit up` as a subprocess, with a fresh data dir."""
    root = tmp_path_factory.mktemp(name)
    port = free_port()
    env = service_env(
        **{"data_dir": str(root / "data"), "x264_preset": "veryfast", "chunk_size": str(256 * 1024), **settings}
    )
    log = root / "vodkit-up.log"
    process = _start([*VODKIT, "up", "--port", str(port)], env, log)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/readyz", [process], [log])
        yield Deployment(f"http://127.0.0.1:{port}", env, [log], pid=process.pid, processes={"up": process})
    finally:
        _stop([process])


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from _embedded(tmp_path_factory, "embedded")


@pytest.fixture(scope="module")
def embedded_big_chunks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The same, suggesting 16 MiB chunks (the default is 8 MiB; the other tests use 256 KiB)."""
    yield from _embedded(tmp_path_factory, "embedded-big", chunk_size=str(16 * 1024**2))


@pytest.fixture(scope="module")
def embedded_fmp4(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The same, packaging fMP4/CMAF segments."""
    yield from _embedded(tmp_path_factory, "embedded-fmp4", segment_format="fmp4")


@pytest.fixture(scope="module")
def embedded_chunked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The same, cutting every source of 12 s or more into 6 s chunks (its one transcoder takes them all)."""
    yield from _embedded(tmp_path_factory, "embedded-chunked", chunk_min_seconds="12", chunk_seconds="6")


@pytest.fixture(scope="module")
def distributed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Six `vodkit serve` processes over RabbitMQ, an S3 server (moto) and one shared metadata store."""
    yield from _distributed(tmp_path_factory, "distributed")


@pytest.fixture(scope="module")
def distributed_chunked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The same with two transcoders, cutting every source of 12 s or more into 6 s chunks."""
    chunking = {"chunk_min_seconds": "12", "chunk_seconds": "6", "job_lease_s": "6", "job_poll_s": "0.5"}
    yield from _distributed(tmp_path_factory, "distributed-chunked", transcoders=2, **chunking)


def _distributed(
    tmp_path_factory: pytest.TempPathFactory, label: str, transcoders: int = 1, **settings: str
) -> Iterator[Deployment]:
    """Each service in a process of its own (`transcoders` of the transcoder: "transcoder", "transcoder-2", …)."""
    need_rabbitmq()
    root = tmp_path_factory.mktemp(label)
    s3_port = free_port()
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        logs.append(root / "s3.log")
        processes.append(
            _start(
                [str(Path(VODKIT[0]).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)],
                service_env(),
                logs[-1],
            )
        )
        _wait_healthy(f"http://127.0.0.1:{s3_port}/moto-api/", processes, logs)
        ports = {name: free_port() for name in SERVICES}
        common = dict(
            bus_url="amqp://guest:guest@127.0.0.1:5672/?queue_expiry_s=600",
            bus_exchange=f"e2e-{uuid.uuid4().hex[:10]}",
            storage_url=f"http://testing:testing-secret@127.0.0.1:{s3_port}/vodkit",
            tier_warm_url=f"http://testing:testing-secret@127.0.0.1:{s3_port}/vodkit-warm",
            tier_cold_url=f"http://testing:testing-secret@127.0.0.1:{s3_port}/vodkit-cold",
            db_url=f"sqlite:///{root / 'metadata.db'}",
            auth_secret=uuid.uuid4().hex,
            content_key=uuid.uuid4().hex,  # the gateway and the packager share it, as they share the secret
            upload_url=f"http://127.0.0.1:{ports['upload']}",
            x264_preset="veryfast",
            chunk_size=str(256 * 1024),
            **settings,
        )
        names = [*SERVICES, *(f"transcoder-{n}" for n in range(2, transcoders + 1))]
        ports.update({name: free_port() for name in names[len(SERVICES) :]})
        for name in names:
            env = service_env(**common, data_dir=str(root / name))  # no files shared between services
            logs.append(root / f"{name}.log")
            service = name.split("-")[0] if name.startswith("transcoder") else name
            processes.append(_start([*VODKIT, "serve", service, "--port", str(ports[name])], env, logs[-1]))
        for name in names:
            _wait_healthy(f"http://127.0.0.1:{ports[name]}/readyz", processes, logs)
        gateway_env = service_env(**common, data_dir=str(root / "gateway"))
        services = dict(zip(names, processes[1:], strict=True))
        yield Deployment(f"http://127.0.0.1:{ports['gateway']}", gateway_env, logs, ports, processes=services)
    finally:
        _stop(processes)


@pytest.fixture(scope="module")
def embedded_encrypted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The same, every new video encrypted by default (AES-128), a new key every 2 segments."""
    yield from _embedded(
        tmp_path_factory, "embedded-encrypted", default_encryption="aes-128", key_rotation_segments="2"
    )


@pytest.fixture(scope="module")
def embedded_encrypted_fmp4(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The same, packaging fMP4/CMAF segments."""
    yield from _embedded(tmp_path_factory, "embedded-encrypted-fmp4", segment_format="fmp4", key_rotation_segments="2")
