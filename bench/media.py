"""`make bench-media`: the media pipeline against the seed's commands and a hand-written ladder, in one run.

(a) the seed's naive commands: three separate encodes plus a separate HLS encode;
(b) one hand-written split-ladder ffmpeg command producing the same HLS as vodkit (3 rungs, 6 s
    TS segments, master playlist), with vodkit's encoder settings;
(c) vodkit: transcoder and packager in this process (memory bus, file storage, SQLite), timed from
    publishing `video.assembled` to receiving `package.done`.
Each is run `--repeat` times, interleaved, on the same 30-second 1080p source with motion and grain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from vodkit_packager.app import create_app as packager_app
from vodkit_packager.settings import PackagerSettings
from vodkit_shared.bus import Subscription
from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.events import Envelope, PackageDone, RenditionMeasured, VideoAssembled
from vodkit_shared.storage import open_storage
from vodkit_transcoder.app import create_app as transcoder_app
from vodkit_transcoder.settings import TranscoderSettings

SEED_RUNGS = [("1080p", "1920:1080"), ("720p", "1280:720"), ("480p", "854:480")]


def make_source(path: Path, seconds: int) -> None:
    """A Mandelbrot zoom (motion, fine detail) with temporal grain and a tone: not a flat test card."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "mandelbrot=size=1920x1080:rate=30:maxiter=200",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330",
            "-t",
            str(seconds),
            "-vf",
            "noise=alls=10:allf=t+u,format=yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "16",
            "-c:a",
            "aac",
            "-b:a",
            "192k",
            str(path),
        ],
        check=True,
    )


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


# The seed's encoder settings, shared by its four commands.
SEED_ENCODE = ("-c:v", "libx264", "-crf", "23", "-preset", "medium", "-c:a", "aac", "-b:a", "128k")


def seed_naive(source: Path, out: Path) -> None:
    """The seed's four commands, as written (only file names differ)."""
    for name, size in SEED_RUNGS:
        ffmpeg("-i", str(source), *SEED_ENCODE, "-vf", f"scale={size}", str(out / f"output_{name}.mp4"))
    hls = ("-f", "hls", "-hls_time", "10", "-hls_list_size", "0")
    ffmpeg(
        "-i",
        str(source),
        *SEED_ENCODE,
        *hls,
        "-hls_segment_filename",
        str(out / "output_%03d.ts"),
        str(out / "output.m3u8"),
    )


def split_ladder(source: Path, out: Path) -> None:
    """One decode, three encodes, HLS written directly: the best a hand-written command does."""
    rungs = [(1920, 1080, 8000), (1280, 720, 5000), (854, 480, 2500)]
    graph = (
        "[0:v]split=3"
        + "".join(f"[v{i}]" for i in range(3))
        + ";"
        + ";".join(f"[v{i}]scale={w}:{h},format=yuv420p[o{i}]" for i, (w, h, _) in enumerate(rungs))
    )
    args = ["-i", str(source), "-filter_complex", graph]
    for i, (_, _, kbps) in enumerate(rungs):
        args += [
            "-map",
            f"[o{i}]",
            "-map",
            "0:a:0",
            f"-c:v:{i}",
            "libx264",
            f"-maxrate:v:{i}",
            f"{kbps}k",
            f"-bufsize:v:{i}",
            f"{2 * kbps}k",
        ]
    args += [
        "-preset",
        "medium",
        "-crf",
        "23",
        "-profile:v",
        "high",
        "-force_key_frames",
        "expr:gte(t,n_forced*6)",
        "-fpsmax",
        "60",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-ac",
        "2",
        "-f",
        "hls",
        "-hls_time",
        "6",
        "-hls_playlist_type",
        "vod",
        "-master_pl_name",
        "master.m3u8",
        "-var_stream_map",
        "v:0,a:0 v:1,a:1 v:2,a:2",
        "-hls_segment_filename",
        str(out / "%v/seg_%05d.ts"),
        str(out / "%v/playlist.m3u8"),
    ]
    ffmpeg(*args)


async def vodkit(source: Path, out: Path) -> dict[str, float]:
    """video.assembled → package.done through the real transcoder and packager."""
    bus_name = f"bench-{uuid.uuid4().hex[:8]}"  # each round has its own event loop, so its own broker
    common = dict(data_dir=out / "data", bus_url=f"memory://{bus_name}", retry_base_delay_s=1.0)
    apps = [transcoder_app(TranscoderSettings(**common, job_poll_s=0.2)), packager_app(PackagerSettings(**common))]
    storage = await open_storage(f"file://{(out / 'data' / 'objects').resolve()}")
    await storage.put_file("originals/bench/source", source)
    bus = MemoryBus(bus_name)
    done, quality_done, measured = asyncio.Event(), asyncio.Event(), set()
    marks: dict[str, float] = {}

    async def on_done(envelope: Envelope) -> None:
        marks["package.done"] = time.perf_counter()
        done.set()

    async def on_measured(envelope: Envelope) -> None:
        measured.add(envelope.payload(RenditionMeasured).rung)
        if len(measured) == 3:
            marks["quality measured"] = time.perf_counter()
            quality_done.set()

    await bus.subscribe(Subscription("bench", PackageDone.TYPE, on_done))
    await bus.subscribe(Subscription("bench", RenditionMeasured.TYPE, on_measured))
    runners = [web.AppRunner(app) for app in apps]
    for runner in runners:
        await runner.setup()
    try:
        started = time.perf_counter()
        assembled = VideoAssembled(source_key="originals/bench/source", size=1)
        await bus.publish(Envelope.wrap(assembled, video_id="bench"))
        await asyncio.wait_for(done.wait(), 3600)
        await asyncio.wait_for(quality_done.wait(), 3600)
    finally:
        for runner in runners:
            await runner.cleanup()
        await bus.close()
    return {name: at - started for name, at in marks.items()}


def timed(run: Callable[[Path], object], work: Path) -> float:
    work.mkdir(parents=True)
    for rung in ("0", "1", "2"):
        (work / rung).mkdir()
    started = time.perf_counter()
    run(work)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path, default=Path("build/bench/media.json"))
    args = parser.parse_args()
    source = Path("build/bench") / f"source-1080p-{args.seconds}s.mp4"
    make_source(source, args.seconds)
    results: dict[str, list[float]] = {"a": [], "b": [], "c": [], "c quality": []}
    with tempfile.TemporaryDirectory(prefix="vodkit-bench-") as tmp:
        for round_ in range(args.repeat):
            base = Path(tmp) / str(round_)
            results["a"].append(timed(lambda out: seed_naive(source, out), base / "a"))
            results["b"].append(timed(lambda out: split_ladder(source, out), base / "b"))
            (base / "c").mkdir(parents=True)
            started = time.perf_counter()
            marks = asyncio.run(vodkit(source, base / "c"))
            results["c"].append(marks["package.done"])
            results["c quality"].append(marks["quality measured"])
            print(
                f"round {round_ + 1}: a={results['a'][-1]:.1f}s b={results['b'][-1]:.1f}s "
                f"c={results['c'][-1]:.1f}s (quality measured at {marks['quality measured']:.1f}s; "
                f"run {time.perf_counter() - started:.1f}s)",
                file=sys.stderr,
            )
            shutil.rmtree(base)
    a, b, c = (statistics.median(results[k]) for k in ("a", "b", "c"))
    report = {
        "source": str(source),
        "seconds": args.seconds,
        "repeat": args.repeat,
        "runs": results,
        "median": {"a": a, "b": b, "c": c, "c quality": statistics.median(results["c quality"])},
        "ratios": {"c/a": c / a, "c/b": c / b, "b/a": b / a},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"""
| run | wall time (median of {args.repeat}) |
|---|---|
| (a) seed's naive commands (3 encodes + HLS encode) | {a:.1f} s |
| (b) hand-written split-ladder command → HLS | {b:.1f} s |
| (c) vodkit, video.assembled → package.done | {c:.1f} s |

c/a = {c / a:.2f} (target ≤ 0.60) · c/b = {c / b:.2f} (target ≤ 1.10) · a/b = {a / b:.2f}
SSIM/PSNR of all rungs known {report["median"]["c quality"]:.1f} s after video.assembled (off the critical path)""")


if __name__ == "__main__":
    main()
