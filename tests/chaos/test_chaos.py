"""The long chaos scenarios (`make chaos`): kills, outages, replays and a load run, each asserting its outcome."""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin

import pytest

from tests.chaos.cluster import Figures, Viewer
from tests.chaos.conftest import LOAD, ClusterFactory
from tests.chaos.load import PLAYER_PAUSE_S, LoadRun
from tests.e2e.pipeline import check_playback
from vodkit_shared.bus import open_bus
from vodkit_shared.events import Envelope
from vodkit_shared.storage import open_storage

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]
SEED = 12


async def test_kill_9_of_a_random_service_every_few_seconds(
    cluster: ClusterFactory, short_clip: Path, report: Callable[[Figures], None]
) -> None:
    """20 kills over 10 videos, each killed process restarted as Kubernetes would: all complete, none twice."""
    chance = random.Random(SEED)
    started = time.monotonic()
    async with cluster() as c:
        viewer = Viewer(c.base_url, c.token("alice"))
        kills: list[str] = []

        async def killer() -> None:
            while len(kills) < 20:
                await asyncio.sleep(chance.uniform(2, 4))
                alive = [s for s in c.services.values() if s.alive]
                victim = chance.choice(alive)
                victim.kill9()
                kills.append(victim.name)

        async def uploads() -> list[str]:
            videos = []
            for _ in range(10):
                videos.append(await viewer.upload(short_clip))
                await asyncio.sleep(chance.uniform(1, 4))
            return videos

        killing = asyncio.create_task(killer())
        videos = await uploads()
        await killing
        kills_done = time.monotonic()
        outcomes = await viewer.settle(videos, timeout=300)
        settled_s = time.monotonic() - kills_done
        jobs = [await c.job(video) for video in videos]
        figures = c.figures("kill -9 of a random service, 20 kills", outcomes, time.monotonic() - started)
        figures.notes.update(
            {
                "kills by service": {name: kills.count(name) for name in sorted(set(kills))},
                "restarts by the supervisor": c.restarts,
                "all settled after the last kill (s)": round(settled_s, 1),
                "transcode jobs (crashes, attempts)": [(j["crashes"], j["attempts"]) for j in jobs if j],
                "statuses that went back": viewer.regressions(),
                "5xx answers seen": len(viewer.errors_5xx),
            }
        )
        report(figures)
    assert outcomes == dict.fromkeys(videos, "completed")
    assert figures.double_work == 0
    assert figures.re_encodes <= kills.count("transcoder")  # only a kill between an encode and its checkpoint
    assert viewer.regressions() == {}


async def test_the_transcoder_killed_mid_encode_three_times_on_one_job(
    cluster: ClusterFactory, long_clip: Path, report: Callable[[Figures], None]
) -> None:
    started = time.monotonic()
    async with cluster() as c:
        viewer = Viewer(c.base_url, c.token("alice"))
        video = await viewer.upload(long_clip)
        taken_up: list[float] = []
        for _ in range(3):
            transcoder = await c.until_encoding(timeout=180)
            await asyncio.sleep(1)  # in the middle of the ladder
            transcoder.kill9()
            killed = time.monotonic()
            await c.until_encoding(timeout=180)
            taken_up.append(round(time.monotonic() - killed, 1))
        outcomes = await viewer.settle([video], timeout=300)
        job = await c.job(video)
        figures = c.figures("transcoder killed mid-encode 3 times, one job", outcomes, time.monotonic() - started)
        figures.notes.update(
            {
                "from each kill to the encode running again (s)": taken_up,
                "job at the end (state, attempts, crashes)": job and (job["state"], job["attempts"], job["crashes"]),
            }
        )
        report(figures)
    assert outcomes == {video: "completed"}
    assert job is not None
    assert (job["state"], job["attempts"], job["crashes"]) == ("done", 0, 3)  # no error attempt spent
    assert figures.double_work == 0
    assert figures.re_encodes == 0


async def test_broker_outages_of_5_10_and_30_s_during_encodes(
    cluster: ClusterFactory, long_clip: Path, report: Callable[[Figures], None]
) -> None:
    started = time.monotonic()
    async with cluster() as c:
        viewer = Viewer(c.base_url, c.token("alice"))
        videos, recovered = [], {}
        for seconds in (5, 10, 30):
            video = await viewer.upload(long_clip)
            videos.append(video)
            await c.until_encoding(timeout=180)
            await c.broker.cut()
            await asyncio.sleep(seconds)
            await c.broker.restore()
            back = time.monotonic()
            outcome = await viewer.settle([video], timeout=300)
            recovered[f"{seconds} s outage: settled after the broker came back (s)"] = round(time.monotonic() - back, 1)
            assert outcome == {video: "completed"}
        outcomes = await viewer.settle(videos, timeout=10)
        figures = c.figures("broker outages of 5, 10 and 30 s during encodes", outcomes, time.monotonic() - started)
        figures.notes.update(recovered)
        figures.notes["5xx answers seen"] = len(viewer.errors_5xx)
        report(figures)
    assert outcomes == dict.fromkeys(videos, "completed")
    assert figures.double_work == 0
    assert figures.re_encodes == 0
    assert viewer.regressions() == {}


async def test_duplicate_and_reordered_events_do_no_double_work_and_no_status_goes_back(
    cluster: ClusterFactory, short_clip: Path, long_clip: Path, report: Callable[[Figures], None]
) -> None:
    started = time.monotonic()
    async with cluster() as c:
        viewer = Viewer(c.base_url, c.token("alice"))
        done = await viewer.upload(short_clip)
        assert await viewer.settle([done], timeout=180) == {done: "completed"}
        busy = await viewer.upload(long_clip)
        await c.until_encoding(timeout=180)
        bus = await open_bus(c.direct_bus_url, c.exchange)
        replayed = 0
        try:
            # a finished video's whole history again, newest first (same ids: redeliveries)
            for event in reversed(c.tap.of(done)):
                await bus.publish(Envelope.model_validate(event))
                replayed += 1
            # the same again with fresh ids (a producer that sent twice), then the busy one's assembly twice
            for event in [*c.tap.of(done, "video.assembled"), *c.tap.of(busy, "video.assembled")]:
                fresh = {**{k: v for k, v in event.items() if k != "_at"}, "id": str(uuid.uuid4())}
                for _ in range(2):
                    await bus.publish(Envelope.model_validate(fresh))
                    replayed += 1
            for event in c.tap.of(done, "rendition.ready"):
                fresh_ready = Envelope.model_validate({**event, "id": str(uuid.uuid4())})
                c.injected.add(str(fresh_ready.id))
                await bus.publish(fresh_ready)
                replayed += 1
        finally:
            await bus.close()
        outcomes = await viewer.settle([done, busy], timeout=240)
        for _ in range(20):  # watch the finished one a while: the replays land
            await viewer.status(done)
            await asyncio.sleep(0.5)
        jobs = [await c.job(video) for video in (done, busy)]
        packages = {video: len({e["id"] for e in c.tap.of(video, "package.done")}) for video in (done, busy)}
        figures = c.figures("duplicate and reordered events", outcomes, time.monotonic() - started)
        figures.notes.update(
            {
                "events replayed": replayed,
                "encodes per video": {video[:8]: c.encodes(video) for video in (done, busy)},
                "package.done ids per video": {video[:8]: n for video, n in packages.items()},
                "statuses that went back": viewer.regressions(),
            }
        )
        report(figures)
    assert outcomes == {done: "completed", busy: "completed"}
    assert [c.encodes(video) for video in (done, busy)] == [1, 1]
    assert all(job and job["state"] == "done" for job in jobs)
    assert figures.double_work == 0  # a fresh-id rendition.ready is ignored by the packager: one package each
    assert viewer.regressions() == {}


async def test_s3_unreachable_for_30_s_during_an_encode(
    cluster: ClusterFactory, long_clip: Path, report: Callable[[Figures], None]
) -> None:
    started = time.monotonic()
    async with cluster(storage="s3") as c:
        assert c.s3 is not None
        viewer = Viewer(c.base_url, c.token("alice"))
        video = await viewer.upload(long_clip)
        await c.until_encoding(timeout=180)
        await c.s3.cut()
        cut = time.monotonic()
        await asyncio.sleep(30)
        await c.s3.restore()
        outcomes = await viewer.settle([video], timeout=300)
        settled_s = time.monotonic() - cut - 30
        retries = [e for e in c.log_lines("transcoder", "job attempt failed") if e.get("videoId") == video]
        # what is published is whole: every segment of every rung decodes, the rendition too
        code, details = await viewer.call("GET", f"/api/videos/{video}")
        assert code == 200, details
        if outcomes[video] == "completed":
            await check_playback(details["playbackUrl"], 40, {"480p": 480})
            broken = await _undecodable_objects(c.s3_direct, video)
        figures = c.figures("S3 unreachable for 30 s during an encode", outcomes, time.monotonic() - started)
        job = await c.job(video)
        figures.notes.update(
            {
                "settled after S3 came back (s)": round(settled_s, 1),
                "transcode attempts that failed on storage, then retried": len(retries),
                "job at the end (state, attempts, crashes)": job and (job["state"], job["attempts"], job["crashes"]),
            }
        )
        report(figures)
    assert outcomes == {video: "completed"}
    assert broken == []
    assert figures.double_work == 0
    assert figures.re_encodes == 0


async def _undecodable_objects(storage_url: str, video_id: str) -> list[str]:
    storage = await open_storage(storage_url)
    broken = []
    try:
        keys = [*await storage.keys(f"hls/{video_id}/"), *await storage.keys(f"renditions/{video_id}/")]
        assert keys
        for key in keys:
            if key.endswith((".ts", ".mp4")):
                data = await storage.get_bytes(key)
                decoded = await asyncio.to_thread(
                    subprocess.run,
                    ["ffmpeg", "-v", "error", "-xerror", "-i", "pipe:0", "-f", "null", "-"],
                    input=data,
                    capture_output=True,
                )
                if decoded.returncode != 0:
                    broken.append(key)
    finally:
        await storage.close()
    return broken


async def test_a_bounded_load_run(cluster: ClusterFactory, short_clip: Path, report: Callable[[Figures], None]) -> None:
    """20 concurrent uploaders and 100 playback clients for 2 minutes on loopback: no 5xx, memory bounded."""
    started = time.monotonic()
    async with cluster() as c:
        viewer = Viewer(c.base_url, c.token("alice"))
        watched = [await viewer.upload(short_clip) for _ in range(2)]
        assert await viewer.settle(watched, timeout=180) == dict.fromkeys(watched, "completed")
        playback = []
        for video in watched:
            _, details = await viewer.call("GET", f"/api/videos/{video}")
            playback.append(str(details["playbackUrl"]))
        run = LoadRun(c.base_url, c.token("bob"), short_clip, playback, urljoin)
        rss = await run.go(uploaders=20, players=100, seconds=120, services=c.services)
        watched_outcomes = dict.fromkeys(watched, "completed")  # settled above, before the load
        figures = c.figures("load: 20 uploaders, 100 players, 2 min", watched_outcomes, time.monotonic() - started)
        figures.notes.update(run.summary())
        summary = (
            f"After two videos were transcoded for the players: 20 uploaders (create a video, send its chunks, poll"
            f" its status 3 times a second apart, again) and 100 players (master playlist, one rung, its segments"
            f" {PLAYER_PAUSE_S} s apart, again) against the gateway for 120 s on loopback. The {run.uploads} uploads"
            " are stored and queued for transcoding, not waited for: the table's videos are the two played."
        )
        LOAD.update(run.table(), rss=rss, summary=summary)
        report(figures)
    assert run.count_5xx() == 0
    assert run.requests() > 1000
    assert all(peak < 1024 for peak, _ in rss.values())  # MiB
