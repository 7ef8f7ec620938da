"""`make bench-watermark`: what burning a watermark in costs the ladder's publish time.

One run, on one source (bench/media.py's 1080p Mandelbrot zoom with grain and a tone, `--seconds` long,
default 10), the transcoder's whole job as a worker runs it (`Transcoder.transcode`: fetch the original,
probe, the one-ffmpeg ladder 1080p / 720p / 480p, store renditions, poster and storyboard, announce),
`--rounds` times (default 3) each way, alternating: with no watermark, and with one (a 240x120 RGBA
logo with soft edges, bottom right, 0.1 of the frame height, opacity 0.8: the defaults). Which way goes
first alternates between rounds, so a machine that slows down or speeds up during the run weighs on
both alike. The early preview and the quality measurement are off: the figure is the ladder's.

The ratio is the watermarked runs' total over the plain runs' total (the issue's target: at most
1.05); each round's own ratio is printed too, as a sign of the machine's noise. On a shared machine the
wall times swing with whatever else runs, so the CPU seconds of the job's processes (ffprobe, ffmpeg) are
summed too: the watermark's cost in work, which other load hardly changes. Run from the repository
root: `.venv/bin/python -m bench.watermark [--seconds 10] [--rounds 3] [--preset medium]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import struct
import tempfile
import time
import zlib
from pathlib import Path

from bench.media import make_source
from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.metadata import open_metadata
from vodkit_shared.storage.files import FileStorage
from vodkit_shared.watermarks import Placement, Watermark, Watermarks, check_png, video_key
from vodkit_transcoder.hwaccel import Accel
from vodkit_transcoder.jobs import TranscodeJob
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_transcoder.worker import Transcoder

TARGET_RATIO = 1.05


def logo_png(width: int = 240, height: int = 120) -> bytes:
    """A white-to-orange band with soft edges: alpha varies over the picture, as a real logo's does."""

    def pixel(x: int, y: int) -> bytes:
        edge = min(x, y, width - 1 - x, height - 1 - y)
        return bytes((255, 255 - 160 * x // width, 64, min(255, edge * 16)))

    rows = b"".join(b"\x00" + b"".join(pixel(x, y) for x in range(width)) for y in range(height))

    def chunk(name: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


async def publish_once(source: Path, work: Path, preset: str, watermarked: bool) -> tuple[float, float]:
    """One transcode job of `source`, from its fetch to its last announcement: wall seconds, and the CPU
    seconds of the processes it ran (ffprobe, ffmpeg: what other work on a shared machine hardly moves)."""
    await asyncio.to_thread(work.mkdir, parents=True)
    storage = FileStorage(work / "objects")
    await storage.put_file("originals/v1/source", source)
    metadata = await open_metadata(f"sqlite:///{work / 'vodkit.db'}")
    watermarks = Watermarks(metadata.collection("watermarks"))
    if watermarked:
        png = logo_png()
        await watermarks.put(video_key("v1"), Watermark.of(png, Placement(), check_png(png), time.time()))
    settings = TranscoderSettings(work_dir=work, x264_preset=preset, measure_quality=False, preview=False)
    transcoder = Transcoder(
        storage, MemoryBus(f"bench-{work.name}"), settings, Accel("libx264", "bench"), watermarks=watermarks
    )
    job = TranscodeJob(video_id="v1", source_key="originals/v1/source", correlation_id="v1")
    started, cpu = time.perf_counter(), _children_cpu_s()
    await transcoder.transcode(job)
    seconds, cpu = time.perf_counter() - started, _children_cpu_s() - cpu
    await metadata.close()
    return seconds, cpu


def _children_cpu_s() -> float:
    """User and system CPU seconds of every child process reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def run(source: Path, rounds: int, preset: str) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU seconds of each publish, by way (plain, watermarked), round by round."""
    times: dict[str, list[float]] = {"plain": [], "watermarked": []}
    cpus: dict[str, list[float]] = {"plain": [], "watermarked": []}
    with tempfile.TemporaryDirectory(prefix="vodkit-bench-watermark-") as tmp:
        for round_ in range(rounds):
            order = ("plain", "watermarked") if round_ % 2 == 0 else ("watermarked", "plain")
            for way in order:
                seconds, cpu = await publish_once(source, Path(tmp) / f"{round_}-{way}", preset, way == "watermarked")
                times[way].append(seconds)
                cpus[way].append(cpu)
                print(f"round {round_ + 1} {way:11} {seconds:7.2f} s, {cpu:7.2f} CPU s", flush=True)
    return times, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preset", default="medium", help="x264 preset (the transcoder's default: medium)")
    parser.add_argument("--json", type=Path, default=Path("build/bench/watermark.json"))
    args = parser.parse_args()
    source = Path("build/bench") / f"source-1080p-{args.seconds}s.mp4"
    make_source(source, args.seconds)
    load_before = os.getloadavg()[0]
    times, cpus = asyncio.run(run(source, args.rounds, args.preset))
    load_after = os.getloadavg()[0]
    plain, marked = times["plain"], times["watermarked"]
    ratio = sum(marked) / sum(plain)
    per_round = [m / p for m, p in zip(marked, plain, strict=True)]
    cpu_ratio = sum(cpus["watermarked"]) / sum(cpus["plain"])
    figures = {
        "preset": args.preset,
        "source_seconds": args.seconds,
        "seconds": times,
        "cpu_seconds": cpus,
        "ratio": ratio,
        "round_ratios": per_round,
        "cpu_ratio": cpu_ratio,
        "load_before": load_before,
        "load_after": load_after,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))
    print(
        f"publish, median of {args.rounds}: plain {statistics.median(plain):.2f} s, watermarked "
        f"{statistics.median(marked):.2f} s; ratio of totals {ratio:.3f} (target <= {TARGET_RATIO}); per round "
        f"{', '.join(f'{r:.3f}' for r in per_round)}; CPU seconds: ratio of totals {cpu_ratio:.3f}; "
        f"load average {load_before:.2f} before, {load_after:.2f} after"
    )


if __name__ == "__main__":
    main()
