"""Six `vodkit serve` processes, supervised as Kubernetes would, with their broker (and S3) behind relays
a scenario can cut, a tap on every event, and the figures a scenario reports.

- The broker: a vhost of its own on the shared RabbitMQ (`rabbitmqctl add_vhost`, deleted after), reached
  by every service through a `TcpLink`; the tap and the scenario's own publishes go to the broker directly.
- Storage: one directory every service shares (a volume), or moto S3 behind a second `TcpLink`.
- Metadata: one SQLite file every service shares.
- The supervisor restarts a process that exited (kill -9, a crash) with the same argv, env and port, a
  second later; a process stopped on purpose (`stop`) stays down. Each runs in its own session, so a
  kill takes its ffmpeg with it, as a container's would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
from aio_pika.abc import AbstractIncomingMessage

from tests.e2e.pipeline import VODKIT, service_env, user_token
from tests.support import TcpLink, free_port

SERVICES = ["upload", "transcoder", "packager", "storage-tiering", "cdn-purge", "gateway"]
BROKER_PORT = 5672
RESTART_DELAY_S = 1.0
SETTLED = ("completed", "failed")
RANK = {"uploading": 0, "processing": 1, "completed": 2}


@dataclass
class Service:
    """One `vodkit serve` process and how to start it again."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    supervised: bool = True
    starts: int = 0
    rss_peak_kib: int = 0

    def start(self) -> None:
        with self.log.open("ab") as out:  # appended: one log across restarts
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL to the whole process group: the service and the ffmpeg it runs, as a container dies."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def children(self, command: str = "ffmpeg") -> list[int]:
        if not self.alive:
            return []
        assert self.process is not None
        found = subprocess.run(["pgrep", "-P", str(self.process.pid), command], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]

    def sample_rss(self) -> int:
        """The process's resident memory now (KiB), kept as its peak."""
        if not self.alive:
            return 0
        assert self.process is not None
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return 0
        rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        self.rss_peak_kib = max(self.rss_peak_kib, rss)
        return rss


@dataclass
class Tap:
    """Every event published on the cluster's exchange, as it came, read off the real broker."""

    events: list[dict[str, Any]] = field(default_factory=list)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        async with message.process():
            with contextlib.suppress(ValueError):
                self.events.append({**json.loads(message.body), "_at": time.monotonic()})

    def of(self, video_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("videoId") == video_id and (kind is None or e["type"] == kind)]


@dataclass
class Figures:
    """What one scenario reports (one row of docs/reliability.md)."""

    scenario: str
    videos: int = 0
    completed: int = 0
    failed: int = 0
    stuck: int = 0
    double_work: int = 0  # videos whose work was announced twice (a second rendition.ready id, a second package)
    encodes: int = 0  # "ladder encoded" lines: completed ladder encodes, including ones redone after a kill
    re_encodes: int = 0  # encodes beyond one a video
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)
    where: str = "make chaos"


class Cluster:
    def __init__(self, root: Path, storage: str = "file", transcoders: int = 1, **settings: str) -> None:
        self.root = root
        self.storage_kind = storage
        self.transcoders = transcoders
        self.settings = settings
        self.vhost = f"vodkit-chaos-{uuid.uuid4().hex[:10]}"
        self.vhost_made = False
        self.exchange = "vodkit"
        self.services: dict[str, Service] = {}
        self.broker = TcpLink(BROKER_PORT)
        self.s3: TcpLink | None = None
        self.s3_process: subprocess.Popen[bytes] | None = None
        self.tap = Tap()
        self.injected: set[str] = set()  # ids of the events a scenario published itself (replays)
        self.restarts = 0
        self._supervisor: asyncio.Task[None] | None = None
        self._tap_connection: aio_pika.abc.AbstractRobustConnection | None = None
        self.env: dict[str, str] = {}
        self.base_url = ""

    # -- set-up -------------------------------------------------------------------------------------------------

    async def start(self) -> Cluster:
        self.root.mkdir(parents=True, exist_ok=True)
        await self._make_vhost()
        await self.broker.start()
        await self._open_tap()
        common = self._common(await self._storage_urls())
        ports = {name: free_port() for name in self._names()}
        common["upload_url"] = f"http://127.0.0.1:{ports['upload']}"
        for name in self._names():
            service = "transcoder" if name.startswith("transcoder") else name
            env = service_env(**common, data_dir=str(self.root / name))
            argv = [*VODKIT, "serve", service, "--port", str(ports[name])]
            self.services[name] = Service(name, argv, env, ports[name], self.root / f"{name}.log")
        self.env = service_env(**common, data_dir=str(self.root / "gateway"))
        self.base_url = f"http://127.0.0.1:{ports['gateway']}"
        for service in self.services.values():
            service.start()
        await asyncio.gather(*(self.ready(name) for name in self.services))
        self._supervisor = asyncio.create_task(self._supervise(), name="supervisor")
        return self

    def _names(self) -> list[str]:
        extra = [f"transcoder-{n}" for n in range(2, self.transcoders + 1)]
        return [*SERVICES[:2], *extra, *SERVICES[2:]]

    def _common(self, storage: dict[str, str]) -> dict[str, str]:
        vhost = self.vhost if self.vhost_made else ""
        return {
            "bus_url": f"amqp://guest:guest@127.0.0.1:{self.broker.port}/{vhost}?queue_expiry_s=1800",
            "bus_exchange": self.exchange,
            **storage,
            "db_url": f"sqlite:///{self.root / 'metadata.db'}",
            "auth_secret": uuid.uuid4().hex,
            "content_key": uuid.uuid4().hex,
            "x264_preset": "ultrafast",
            "chunk_size": str(256 * 1024),
            "measure_quality": "false",
            "hwaccel": "none",  # no trial encode at start (an ffmpeg that is not a job's)
            "job_lease_s": "6",  # a killed transcoder's job is taken up again 6 s later (60 s by default)
            "job_poll_s": "1",
            **self.settings,
        }

    async def _storage_urls(self) -> dict[str, str]:
        if self.storage_kind == "file":
            shared = self.root / "volume"
            return {
                "storage_url": f"file://{shared / 'hot'}",
                "tier_warm_url": f"file://{shared / 'warm'}",
                "tier_cold_url": f"file://{shared / 'cold'}",
            }
        port = free_port()
        moto = str(Path(VODKIT[0]).parent / "moto_server")
        with (self.root / "s3.log").open("wb") as out:
            self.s3_process = subprocess.Popen(  # noqa: ASYNC220 - a server started once, as Service.start
                [moto, "-H", "127.0.0.1", "-p", str(port)], env=service_env(), stdout=out, stderr=subprocess.STDOUT
            )
        await self._wait_http(f"http://127.0.0.1:{port}/moto-api/", 60)
        self.s3 = await TcpLink(port).start()
        self.s3_direct = f"http://testing:testing-secret@127.0.0.1:{port}/vodkit"
        via = f"http://testing:testing-secret@127.0.0.1:{self.s3.port}"
        return {
            "storage_url": f"{via}/vodkit",
            "tier_warm_url": f"{via}/vodkit-warm",
            "tier_cold_url": f"{via}/vodkit-cold",
        }

    async def _make_vhost(self) -> None:
        """A vhost of the cluster's own; without rabbitmqctl, the default vhost and an exchange of its own."""
        made = await _rabbitmqctl("add_vhost", self.vhost)
        self.vhost_made = made and await _rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        if not self.vhost_made:
            self.exchange = f"chaos-{uuid.uuid4().hex[:10]}"

    @property
    def direct_bus_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{BROKER_PORT}/{self.vhost if self.vhost_made else ''}"

    async def _open_tap(self) -> None:
        self._tap_connection = await aio_pika.connect_robust(self.direct_bus_url)
        channel = await self._tap_connection.channel()
        exchange = await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="#")
        await queue.consume(self.tap.on_message)

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        for service in self.services.values():
            if service.alive:
                assert service.process is not None
                service.process.terminate()
        for service in self.services.values():
            if service.process is not None:
                try:
                    await asyncio.to_thread(service.process.wait, 15)
                except subprocess.TimeoutExpired:
                    service.kill9()
        await self.broker.close()
        if self.s3 is not None:
            await self.s3.close()
        if self.s3_process is not None:
            self.s3_process.terminate()
            self.s3_process.wait()
        if self._tap_connection is not None:
            await self._tap_connection.close()
        if self.vhost_made:
            await _rabbitmqctl("delete_vhost", self.vhost)

    # -- processes ----------------------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            for service in self.services.values():
                service.sample_rss()
                if service.supervised and service.process is not None and service.process.poll() is not None:
                    await asyncio.sleep(RESTART_DELAY_S)
                    service.start()
                    self.restarts += 1
            await asyncio.sleep(0.2)

    async def ready(self, name: str, timeout: float = 90) -> None:
        service = self.services[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.process is not None and service.process.poll() is not None and service.starts == 1:
                raise RuntimeError(f"{name} exited {service.process.returncode}:\n{service.log.read_text()[-3000:]}")
            if await _status_of(f"http://127.0.0.1:{service.port}/readyz") == 200:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{name} not ready within {timeout}s:\n{service.log.read_text()[-3000:]}")

    async def _wait_http(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while await _status_of(url) != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not up within {timeout}s")
            await asyncio.sleep(0.2)

    def token(self, user: str) -> str:
        return user_token(self.env, user)

    def encoding(self) -> Service | None:
        """The transcoder running an ffmpeg now, if one is."""
        return next((s for n, s in self.services.items() if n.startswith("transcoder") and s.children()), None)

    async def until_encoding(self, timeout: float = 120) -> Service:
        deadline = time.monotonic() + timeout
        while (service := self.encoding()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"no transcoder encoding within {timeout}s")
            await asyncio.sleep(0.1)
        return service

    # -- what happened ------------------------------------------------------------------------------------------

    def log_lines(self, prefix: str, message: str) -> list[dict[str, Any]]:
        lines = []
        for name, service in self.services.items():
            if name.startswith(prefix) and service.log.exists():
                for line in service.log.read_text(errors="replace").splitlines():
                    if message in line:
                        with contextlib.suppress(ValueError):
                            lines.append(json.loads(line))
        return [entry for entry in lines if entry.get("msg") == message]

    def encodes(self, video_id: str) -> int:
        return sum(1 for e in self.log_lines("transcoder", "ladder encoded") if e.get("videoId") == video_id)

    def double_work(self, video_id: str) -> dict[str, int]:
        """Finished work announced more than once: a rendition under a second event id, a second package (a
        redelivery keeps its id; a re-run's rendition.ready has a stable id). Re-encodes are counted apart."""
        by_rung: dict[str, set[str]] = defaultdict(set)
        for event in self.tap.of(video_id, "rendition.ready"):
            if event["id"] not in self.injected:
                by_rung[event["data"]["rung"]].add(event["id"])
        packages = {e["id"] for e in self.tap.of(video_id, "package.done") if e["id"] not in self.injected}
        extra = {f"rendition {rung}": len(ids) - 1 for rung, ids in by_rung.items() if len(ids) > 1}
        if len(packages) > 1:
            extra["package"] = len(packages) - 1
        return extra

    async def job(self, video_id: str) -> dict[str, Any] | None:
        from vodkit_shared.metadata import open_metadata

        store = await open_metadata(self.env["VODKIT_DB_URL"])
        try:
            return await store.collection("transcode_jobs").get(video_id)
        finally:
            await store.close()

    def figures(self, scenario: str, outcomes: dict[str, str], seconds: float, **notes: Any) -> Figures:
        doubled = {video: work for video in outcomes if (work := self.double_work(video))}
        if doubled:
            notes["double work"] = doubled
        return Figures(
            scenario,
            videos=len(outcomes),
            completed=sum(1 for s in outcomes.values() if s == "completed"),
            failed=sum(1 for s in outcomes.values() if s == "failed"),
            stuck=sum(1 for s in outcomes.values() if s not in SETTLED),
            double_work=len(doubled),
            encodes=sum(self.encodes(video) for video in outcomes),
            re_encodes=sum(max(0, self.encodes(video) - 1) for video in outcomes),
            seconds=round(seconds, 1),
            notes=notes,
        )


@contextlib.asynccontextmanager
async def running(root: Path, **options: Any) -> AsyncIterator[Cluster]:
    cluster = Cluster(root, **options)
    try:
        yield await cluster.start()
    finally:
        await cluster.close()


async def _rabbitmqctl(*args: str) -> bool:
    try:
        process = await asyncio.create_subprocess_exec(
            "rabbitmqctl", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
    except OSError:
        return False
    try:
        return await asyncio.wait_for(process.wait(), 60) == 0
    except TimeoutError:
        process.kill()
        return False


async def _status_of(url: str) -> int:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http,
            http.get(url) as response,
        ):
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


class Viewer:
    """An API consumer that retries through restarts and outages: a refused connection or a 503 waits and
    tries again (what `vodkit upload` does); anything else 5xx is counted, for the scenario to assert on."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.errors_5xx: list[tuple[str, int]] = []
        self.statuses: dict[str, list[str]] = defaultdict(list)

    async def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        for _ in range(600):
            try:
                async with (
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
                    http.request(method, self.base + path, headers=headers, **kwargs) as response,
                ):
                    body = await response.json(content_type=None) if response.content_length != 0 else None
                    if response.status == 503:
                        await asyncio.sleep(0.5)
                        continue
                    if response.status >= 500:
                        self.errors_5xx.append((path, response.status))
                        await asyncio.sleep(0.5)
                        continue
                    return response.status, body
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.5)
        raise AssertionError(f"{method} {path}: no answer in 5 minutes of retries")

    async def upload(self, clip: Path) -> str:
        data = clip.read_bytes()
        status, created = await self.call("POST", "/api/videos", json={"filename": clip.name, "size": len(data)})
        assert status == 201, created
        video_id, token, size = created["videoId"], created["uploadToken"], int(created["chunkSize"])
        total = -(-len(data) // size)
        for index in range(total):
            form = _chunk_form(video_id, index, total, data[index * size : (index + 1) * size])
            status, body = await self.call("POST", "/api/videos/upload", token, data=form)
            assert status == 200, body
        return str(video_id)

    async def status(self, video_id: str) -> str:
        code, body = await self.call("GET", f"/api/videos/{video_id}/status")
        assert code == 200, body
        self.statuses[video_id].append(body["status"])
        return str(body["status"])

    async def settle(self, video_ids: list[str], timeout: float) -> dict[str, str]:
        """Each video's status once all settled, or at the deadline (anything not settled is stuck)."""
        deadline = time.monotonic() + timeout
        outcomes = {video: "" for video in video_ids}
        while time.monotonic() < deadline:
            for video in video_ids:
                if outcomes[video] not in SETTLED:
                    outcomes[video] = await self.status(video)
            if all(status in SETTLED for status in outcomes.values()):
                break
            await asyncio.sleep(0.5)
        return outcomes

    def regressions(self) -> dict[str, list[str]]:
        """Videos whose status went back (completed → processing, say), with the statuses seen."""
        went_back = {}
        for video, seen in self.statuses.items():
            ranks = [RANK.get(status, 3) for status in seen]
            if any(later < earlier for earlier, later in itertools.pairwise(ranks)):
                went_back[video] = seen
        return went_back


def _chunk_form(video_id: str, index: int, total: int, data: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in {"videoId": video_id, "chunkIndex": str(index), "totalChunks": str(total)}.items():
        form.add_field(name, value)
    form.add_field("chunk", data, filename="chunk.bin", content_type="application/octet-stream")
    return form
