"""`make bench-analytics`: playback reports under load, and the aggregations over a million samples.

(load)      `vodkit up` (fresh data dir, SQLite, every rate limit raised out of the way: all players
            come from one address) and N simulated players (default 1,000) in this process, one
            aiohttp session and one asyncio task each, starts spread evenly over one interval, each
            sending a batch to `POST /api/playback-events?token=…` every `--interval` seconds (5)
            for `--seconds` (60): first the view and its level, then a buffer sample a second, now
            and then a level switch or a stall. Reported: accepted (202) batches per second, latency
            percentiles of the endpoint, and the CPU share of the `vodkit up` process (from
            /proc/<pid>/stat; all six services run in it, the gateway is the only busy one). The
            owner's `GET /api/videos/{id}/analytics` must then count every player's view.
(aggregate) the analytics port filled directly (no HTTP) with `--samples` (1,000,000) generated
            samples: 10,000 sessions of 100 samples over 200 videos and 7 days; timed: the fleet-wide
            report (`AnalyticsStore.report`, every aggregation `GET /api/analytics` runs), one video's
            report, the fleet-wide summary alone (`AnalyticsStore.figures`: counts, sums, startup percentiles)
            and the seed's buffer-health-per-video aggregation alone; on SQLite, and on
            MongoDB too when VODKIT_TEST_MONGODB_URL is set (a database of its own, dropped after).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from vodkit_gateway.settings import GatewaySettings
from vodkit_shared.analytics import AnalyticsStore, Sample, Scope, open_analytics

LADDER = (("720p", 720, 2_800_000), ("480p", 480, 1_400_000))
RAISED = 10**9


# ---- the deployment under load ----------------------------------------------------------------
def raised_rate_limits() -> dict[str, str]:
    """Every per-window budget of the gateway, far out of reach (the limiter still counts each request)."""
    return {
        f"VODKIT_{name.upper()}": str(RAISED)
        for name, info in GatewaySettings.model_fields.items()
        if name.startswith("rate_limit_") and info.annotation is int
    }


def start_vodkit(work: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    port = 18500 + os.getpid() % 1000
    env = {**os.environ, "VODKIT_DATA_DIR": str(work / "data"), "VODKIT_X264_PRESET": "ultrafast"}
    env.update(raised_rate_limits())
    process = subprocess.Popen(
        [sys.executable, "-m", "vodkit_cli.main", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(work / "vodkit.log").open("wb"),
    )
    return process, f"http://127.0.0.1:{port}", env


async def wait_ready(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("vodkit up did not become ready in 30 s (see vodkit.log)")


async def command(*argv: str, env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed: {err.decode(errors='replace')[-500:]}")
    return out.decode()


async def watchable_video(work: Path, base: str, env: dict[str, str]) -> tuple[str, str, str]:
    """A 2-second clip uploaded and processed: (video id, its playback token, the owner's user token)."""
    clip = work / "clip.mp4"
    source = "testsrc2=size=854x480:rate=30:duration=2"
    await command("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-c:v", "libx264",
                  "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip), env=env)  # fmt: skip
    cli = (sys.executable, "-m", "vodkit_cli.main")
    owner = (await command(*cli, "token", "--user", "bench-owner", env=env)).strip()
    printed = await command(*cli, "upload", str(clip), "--url", base, "--token", owner, "--wait", env=env)
    playback_url = next(word for word in printed.split() if "/master.m3u8?token=" in word)
    parts = urlsplit(playback_url)
    video_id = parts.path.split("/")[2]
    return video_id, parse_qs(parts.query)["token"][0], owner


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14 and 15


# ---- the simulated players ----------------------------------------------------------------------
@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)

    def count(self, status: str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


class Player:
    """One viewer: what it would have seen since its last batch, a buffer sample a second."""

    def __init__(self, rng: random.Random, video_id: str) -> None:
        self.rng = rng
        self.video_id = video_id
        self.session_id = uuid.uuid4().hex
        self.viewer_id = uuid.uuid4().hex
        self.seq = 0
        self.position = 0.0
        self.level = rng.randrange(len(LADDER))

    def batch(self, interval: float) -> dict[str, Any]:
        now = time.time()
        events: list[dict[str, Any]] = []
        if self.seq == 0:
            events.append({"type": "view", "at": now, "startup": round(self.rng.lognormvariate(-0.5, 0.6), 3),
                           "firstSegment": round(self.rng.uniform(0.1, 0.6), 3)})  # fmt: skip
            events.append(self._level(now, switch=False))
        elif self.rng.random() < 0.1:
            self.level = 1 - self.level
            events.append(self._level(now, switch=True))
        if self.seq and self.rng.random() < 0.05:
            events.append({"type": "stall", "at": now, "position": self.position,
                           "duration": round(self.rng.uniform(0.2, 2.0), 3)})  # fmt: skip
        quality, height, bitrate = LADDER[self.level]
        for second in range(int(interval)):
            self.position += 1.0
            events.append({"type": "buffer", "at": now - interval + second + 1, "position": self.position,
                           "bufferHealth": round(self.rng.uniform(5, 30), 2), "quality": quality,
                           "bitrate": bitrate, "height": height, "watch": 1.0, "droppedFrames": 0,
                           "decodedFrames": 30})  # fmt: skip
        body = {"videoId": self.video_id, "sessionId": self.session_id, "viewerId": self.viewer_id,
                "seq": self.seq, "events": events}  # fmt: skip
        self.seq += 1
        return body

    def _level(self, at: float, switch: bool) -> dict[str, Any]:
        quality, height, bitrate = LADDER[self.level]
        return {"type": "level", "at": at, "quality": quality, "bitrate": bitrate, "height": height, "switch": switch}


async def play(
    http: aiohttp.ClientSession, url: str, player: Player, start: float, interval: float, batches: int, tally: Tally
) -> None:
    for n in range(batches):
        await asyncio.sleep(max(0.0, start + n * interval - time.monotonic()))
        body = json.dumps(player.batch(interval))
        sent = time.perf_counter()
        try:
            async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                await response.read()
                tally.count(str(response.status))
        except aiohttp.ClientError as error:
            tally.count(type(error).__name__)
            continue
        tally.latencies.append(time.perf_counter() - sent)


async def load(base: str, pid: int, video_id: str, token: str, args: argparse.Namespace) -> dict[str, Any]:
    url = f"{base}/api/playback-events?token={token}"
    rng = random.Random(15)
    batches = max(1, round(args.seconds / args.interval))
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=0)  # as many connections as requests in flight, reused
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
        begin = time.monotonic() + 1.0
        spread = args.interval / args.players
        players = [Player(rng, video_id) for _ in range(args.players)]
        tasks = [
            asyncio.create_task(play(http, url, p, begin + i * spread, args.interval, batches, tally))
            for i, p in enumerate(players)
        ]
        await asyncio.sleep(begin - time.monotonic())  # from the first player's first batch on
        cpu_before, own_before = cpu_seconds(pid), time.process_time()
        await asyncio.gather(*tasks)
        wall = time.monotonic() - begin
        cpu, own = cpu_seconds(pid) - cpu_before, time.process_time() - own_before
    latencies = sorted(tally.latencies)
    accepted = tally.statuses.get("202", 0)
    return {
        "players": args.players,
        "interval_s": args.interval,
        "batches_sent": args.players * batches,
        "statuses": tally.statuses,
        "wall_s": round(wall, 2),
        "accepted_per_s": round(accepted / wall, 1),
        "latency_ms": {
            "p50": round(1000 * statistics.median(latencies), 1) if latencies else None,
            "p99": round(1000 * nearest(latencies, 99), 1) if latencies else None,
            "max": round(1000 * latencies[-1], 1) if latencies else None,
        },
        "vodkit_cpu_s": round(cpu, 1),
        "vodkit_cpu_share_of_one_core": round(cpu / wall, 3),
        "vodkit_cpu_share_of_machine": round(cpu / wall / (os.cpu_count() or 1), 3),
        "players_cpu_share_of_one_core": round(own / wall, 3),
    }


def nearest(values: list[float], percentile: int) -> float:
    return values[max(1, -(-percentile * len(values) // 100)) - 1]


async def views_counted(base: str, video_id: str, owner: str, expected: int) -> int:
    """The views the owner's analytics API counts, once the writer has flushed (it stores within about a second)."""
    views = 0
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {owner}"}) as http:
        for _ in range(30):
            async with http.get(f"{base}/api/videos/{video_id}/analytics") as response:
                answer = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"analytics API answered {response.status}: {answer}")
            views = int(answer["summary"]["views"])
            if views >= expected:
                break
            await asyncio.sleep(1)
    return views


# ---- a million samples, and the aggregations over them -------------------------------------------
DAYS = 7
VIDEOS = 200
PER_SESSION = 100


def generated(count: int, last_day: dt.date) -> Iterator[list[Sample]]:
    """`count` samples, a session (100 samples: view, level, buffer a second, stalls, errors) at a time."""
    rng = random.Random(1)
    videos = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(VIDEOS)]
    first = dt.datetime.combine(last_day - dt.timedelta(days=DAYS - 1), dt.time(), dt.UTC).timestamp()
    for session in range(-(-count // PER_SESSION)):
        yield list(_session(rng, f"s{session:07d}", rng.choice(videos), first + rng.uniform(0, DAYS * 86400 - 200)))


def _session(rng: random.Random, session: str, video: str, at: float) -> Iterator[Sample]:
    viewer = f"anon:v{rng.randrange(4000)}"
    quality, height, bitrate = rng.choice(LADDER)
    base = {"video_id": video, "session_id": session, "viewer": viewer}
    yield Sample(f"{session}:0:0", **base, kind="view", at=at, startup=rng.lognormvariate(-0.5, 0.6),
                 first_segment=rng.uniform(0.1, 0.6))  # fmt: skip
    yield Sample(f"{session}:0:1", **base, kind="level", at=at, quality=quality, bitrate=bitrate, height=height,
                 switch=False)  # fmt: skip
    for i in range(2, PER_SESSION):
        t, position = at + i, float(i)
        if i % 25 == 0:
            yield Sample(f"{session}:{i}:0", **base, kind="stall", at=t, position=position, stall=rng.uniform(0.2, 2))
        elif i % 49 == 0:
            yield Sample(f"{session}:{i}:0", **base, kind="error", at=t, fatal=False, error="bufferStalledError")
        else:
            yield Sample(f"{session}:{i}:0", **base, kind="buffer", at=t, position=position,
                         buffer_health=rng.uniform(5, 30), quality=quality, bitrate=bitrate, height=height,
                         watch=1.0, dropped_frames=0, decoded_frames=30)  # fmt: skip


async def timed(run: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await run()
        times.append(round(time.perf_counter() - started, 3))
    return times


async def aggregate(store: AnalyticsStore, samples: int, repeat: int) -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date()
    started, stored = time.perf_counter(), 0
    pending: list[Sample] = []
    for session in generated(samples, today):
        pending += session
        if len(pending) >= 10_000:
            stored += await store.record(pending)
            pending = []
    stored += await store.record(pending) if pending else 0
    fill = time.perf_counter() - started
    fleet = Scope(today - dt.timedelta(days=DAYS - 1), today)
    busiest = (await store.buffer_health_per_video(fleet, 1))[0]
    one_video = Scope(fleet.first, fleet.last, busiest.video_id)
    report = await store.report(fleet)
    return {
        "samples": stored,
        "fill_s": round(fill, 1),
        "fleet_report_s": await timed(lambda: store.report(fleet), repeat),
        "video_report_s": await timed(lambda: store.report(one_video), repeat),
        "summary_s": await timed(lambda: store.figures(fleet), repeat),
        "buffer_health_per_video_s": await timed(lambda: store.buffer_health_per_video(fleet, 100), repeat),
        "check": {"views": report.summary.views, "busiest_video_views": busiest.total_views},
    }


async def aggregate_on(url: str, samples: int, repeat: int) -> dict[str, Any]:
    store = await open_analytics(url)
    try:
        return await aggregate(store, samples, repeat)
    finally:
        await store.close()


async def drop_mongo_database(url: str) -> None:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        await client.drop_database(urlsplit(url).path.strip("/"))
    finally:
        await client.close()


def load_average() -> list[str]:
    """The 1, 5 and 15 minute load averages, as `uptime` shows them."""
    return Path("/proc/loadavg").read_text().split()[:3]


# ---- the run --------------------------------------------------------------------------------------
async def run_load(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    process, base, env = start_vodkit(work)
    try:
        await wait_ready(base)
        video_id, token, owner = await watchable_video(work, base, env)
        print(f"video {video_id} ready; {args.players} players for {args.seconds:.0f} s", file=sys.stderr)
        result = await load(base, process.pid, video_id, token, args)
        result["views_counted"] = await views_counted(base, video_id, owner, args.players)
        return result
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 10)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"uptime_before": load_average()}
    with tempfile.TemporaryDirectory(prefix="vodkit-bench-analytics-") as tmp:
        work = Path(tmp)
        if not args.skip_load:
            report["load"] = await run_load(work, args)
            print(f"load: {json.dumps(report['load'])}", file=sys.stderr)
        report["sqlite"] = await aggregate_on(f"sqlite:///{work / 'aggregate.db'}", args.samples, args.repeat)
        print(f"sqlite: {json.dumps(report['sqlite'])}", file=sys.stderr)
    mongodb = os.environ.get("VODKIT_TEST_MONGODB_URL", "")
    if mongodb:
        url = f"{mongodb.rstrip('/')}/vodkit_bench_{uuid.uuid4().hex[:8]}"
        try:
            report["mongodb"] = await aggregate_on(url, args.samples, args.repeat)
        finally:
            await drop_mongo_database(url)
        print(f"mongodb: {json.dumps(report['mongodb'])}", file=sys.stderr)
    report["uptime_after"] = load_average()
    return report


def print_tables(report: dict[str, Any]) -> None:
    if "load" in report:
        r = report["load"]
        ms = r["latency_ms"]
        rows = [
            ("batches sent / answered", f"{r['batches_sent']} / {json.dumps(r['statuses'])}"),
            ("accepted batches per second", f"{r['accepted_per_s']}"),
            ("latency p50 / p99 / max", f"{ms['p50']} / {ms['p99']} / {ms['max']} ms"),
            (
                "`vodkit up` CPU",
                f"{r['vodkit_cpu_share_of_one_core']:.0%} of one core ({r['vodkit_cpu_share_of_machine']:.0%} of all)",
            ),
            ("the players' CPU (this process)", f"{r['players_cpu_share_of_one_core']:.0%} of one core"),
            ("views the analytics API counts", f"{r['views_counted']} of {r['players']}"),
        ]
        print(f"\n| {r['players']} players, a batch every {r['interval_s']:g} s | |\n|---|---|")
        print("\n".join(f"| {label} | {value} |" for label, value in rows))
    print(
        "\n| store | samples | fill | fleet-wide report | one video's report | fleet-wide summary "
        "| buffer health per video |\n|---|---|---|---|---|---|---|"
    )
    for name in ("sqlite", "mongodb"):
        if name in report:
            a = report[name]
            times = (a["fleet_report_s"], a["video_report_s"], a["summary_s"], a["buffer_health_per_video_s"])
            print(
                f"| {name} | {a['samples']:,} | {a['fill_s']} s | "
                + " | ".join(f"{statistics.median(t):.2f} s" for t in times)
                + " |"
            )
    repeat = len(report["sqlite"]["fleet_report_s"])
    before, after = (" ".join(report[k]) for k in ("uptime_before", "uptime_after"))
    print(f"\nmedians of {repeat} runs · load average before {before}, after {after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=5)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="times each aggregation is timed")
    parser.add_argument("--skip-load", action="store_true", help="only the aggregations")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50 players for 10 s, 20,000 samples")
    parser.add_argument("--json", type=Path, default=Path("build/bench/analytics.json"))
    args = parser.parse_args()
    if args.quick:
        args.players, args.seconds, args.samples, args.repeat = 50, 10, 20_000, 1
    report = asyncio.run(run(args))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print_tables(report)
    if "load" in report and report["load"]["views_counted"] != args.players:
        sys.exit(f"the analytics API counts {report['load']['views_counted']} views of {args.players} players")


if __name__ == "__main__":
    main()
