"""`make bench-publish`: how soon a viewer can start, and what early publish costs the full ladder.

For each source length (`--seconds`, default 60; the issue's set is `--seconds 60 300 600`), in one run
on the same 1080p source: bench/media.py's Mandelbrot zoom with grain and a tone, encoded as an upload
is (H.264 High at 20 Mbit/s, a keyframe a second, a phone's or a camera's bitrate), its first minute
looped for longer sources. `--mezzanine` uses bench-media's own source instead (CRF 16 with its grain:
about 116 Mbit/s, whose decode alone runs at 1.7x real time on this 2-core machine).

(b) the one hand-written split-ladder ffmpeg command (bench/media.py), timed alone;
(c) `vodkit up` on embedded defaults (its default encoder settings, the preview on): the source is
    uploaded in chunks, and from the last chunk's 200 the bench records when the status first shows a
    `playbackUrl`, when headless Chromium (opened at that moment on tests/browser/early_player.html,
    hls.js at 1x, as a viewer would) decodes its first frame, how long that viewer stalls in total
    while the encode goes on (it plays to the end), and when the status is `completed`.

The first frame includes starting Chromium, as a viewer who clicks the link would. The ratio c/b is the
full ladder's publish time (last chunk's 200 to `completed`, assembly and packaging included) over the
one-command ladder's. Run from the repository root: `.venv/bin/python -m bench.publish`.

`--chunking` runs (c) three times on each source, all else equal: the ladder in a single pass
(`VODKIT_CHUNK_SECONDS=0`), in 60 s chunks with one worker, and in 60 s chunks with two workers
(`VODKIT_SLOTS=2`: two encodes at once, the cores shared between them), and reports each one's publish
time over the single pass's, with each chunk's time (fetch, encode, store) and the stitch's from the log:
the figures the model of N workers rests on (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bench.media import ffmpeg, make_source, split_ladder, timed
from tests.browser.conftest import serve_page, start_chromium, stop_chromium
from tests.e2e.conftest import _start, _stop, _wait_healthy
from tests.e2e.pipeline import VODKIT, Client, service_env, user_token
from tests.support import free_port

TARGET_FIRST_FRAME_S = 10.0
TARGET_STALL_S = 1.0
TARGET_RATIO = 1.25


@dataclass(frozen=True)
class Publish:
    seconds: int
    playable_s: float  # last chunk's 200 → the status shows a playbackUrl
    first_frame_s: float  # last chunk's 200 → hls.js's first decoded frame
    stalled_s: float  # the early viewer's stalls in total, after its first frame
    viewer_error: str | None  # a fatal hls.js error, if any
    stalls: list[dict[str, float]]  # each stall: media time `at`, `ms`, `wallMs` after the first frame
    published_s: float  # last chunk's 200 → status completed
    one_command_s: float  # (b), the same source

    @property
    def ratio(self) -> float:
        return self.published_s / self.one_command_s


class Viewer:
    """The early_player.html page's reports; it plays to the end, then the bench stops it."""

    def __init__(self) -> None:
        self.last: dict[str, Any] = {}

    async def report(self, request: web.Request) -> web.Response:
        self.last = json.loads(await request.text())
        return web.json_response({"stop": bool(self.last.get("ended")), "pause": False})


async def publish(
    base_url: str, env: dict[str, str], source: Path, seconds: int, profile: Path, log_path: Path
) -> dict[str, Any]:
    client = Client(base_url, user_token(env, "bench"))
    viewer = Viewer()
    runner, page_port = await serve_page("early_player.html", "/progress", viewer.report)
    browser = None
    log = log_path.open("wb")  # Chromium's, the page's console included
    try:
        video = await client.upload(source)  # returns on the last chunk's 200
        uploaded = time.time()
        marks: dict[str, float] = {}
        while "completed" not in marks:
            reply = await client.call("GET", f"/api/videos/{video}/status", client.user_token)
            body = reply.body
            if body["status"] == "failed":
                raise SystemExit(f"the video failed: {body}")
            if body["playbackUrl"] and browser is None:
                marks["playable"] = time.time() - uploaded
                page = f"http://127.0.0.1:{page_port}/?src={quote(body['playbackUrl'], safe='')}"
                browser = await start_chromium(profile, log, page)
            if body["status"] == "completed":
                marks["completed"] = time.time() - uploaded
            await asyncio.sleep(0.2)
        deadline = time.monotonic() + 2 * seconds + 120
        while not (viewer.last.get("ended") or viewer.last.get("fatal")):
            if time.monotonic() > deadline:
                raise SystemExit(f"the early viewer never reached the end: {viewer.last}")
            await asyncio.sleep(0.5)
        seen = viewer.last
        return {
            "playable_s": marks["playable"],
            "first_frame_s": seen["firstFrameAt"] / 1000 - uploaded,
            "stalled_s": seen["stalledMs"] / 1000,
            "viewer_error": seen["fatal"],
            "stalls": seen["stalls"],  # each: media time, how long, ms after the first frame
            "published_s": marks["completed"],
        }
    finally:
        if browser is not None:
            await stop_chromium(browser)
        log.close()
        await runner.cleanup()


def run_vodkit(root: Path, source: Path, seconds: int, **settings: str) -> dict[str, Any]:
    port = free_port()
    root.mkdir(parents=True)
    env = service_env(data_dir=str(root / "data"), auth_secret=uuid.uuid4().hex, **settings)
    log = root / "vodkit-up.log"
    processes = [_start([*VODKIT, "up", "--port", str(port)], env, log)]
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/readyz", processes, [log])
        url = f"http://127.0.0.1:{port}"
        return asyncio.run(publish(url, env, source, seconds, root / "profile", root / "chromium.log"))
    finally:
        _stop(processes)
        settings_log[root.name] = log.read_text()


settings_log: dict[str, str] = {}  # each run's vodkit-up log, by run
CHUNKINGS = {  # run → its settings
    "single pass": {"chunk_seconds": "0"},
    "chunked, 1 worker": {"chunk_seconds": "60", "chunk_min_seconds": "0"},
    "chunked, 2 workers": {"chunk_seconds": "60", "chunk_min_seconds": "0", "slots": "2"},
}
TARGET_CHUNK_OVERHEAD = 1.10


def logged_seconds(log: str, message: str) -> list[float]:
    """The `seconds` of each log line with this message."""
    lines = (json.loads(line) for line in log.splitlines() if line.startswith("{") and f'"{message}"' in line)
    return [float(entry["seconds"]) for entry in lines if entry.get("msg") == message]


def chunking_table(seconds: int, one_command: float, runs: dict[str, dict[str, Any]]) -> str:
    single = runs["single pass"]["published_s"]
    lines = [
        f"| {seconds} s source (1080p) | published | / single pass | first frame | stalled "
        "| chunks (each: fetch, encode, store) | stitch |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for name, run in runs.items():
        chunks = logged_seconds(settings_log[_dir(name)], "chunk encoded")
        stitch = logged_seconds(settings_log[_dir(name)], "ladder stitched")
        each = f"{len(chunks)}: {min(chunks):.0f}–{max(chunks):.0f} s, sum {sum(chunks):.0f} s" if chunks else "—"
        lines.append(
            f"| {name} | {run['published_s']:.1f} s | {run['published_s'] / single:.3f} "
            f"| {run['first_frame_s']:.1f} s | {run['stalled_s']:.2f} s | {each} "
            f"| {f'{stitch[0]:.1f} s' if stitch else '—'} |"
        )
    lines.append(f"| one-command ladder (b) | {one_command:.1f} s | {one_command / single:.3f} | | | | |")
    return "\n".join(lines)


def _dir(name: str) -> str:
    return name.replace(", ", "-").replace(" ", "-")


def chunking(source: Path, seconds: int, root: Path) -> bool:
    """The --chunking runs on one source; prints their table, True if chunking costs one worker ≤ 10 %."""
    one_command = timed(lambda out: split_ladder(source, out), root / "b")
    print(f"{seconds} s: one-command ladder {one_command:.1f} s", file=sys.stderr)
    runs = {}
    for name, settings in CHUNKINGS.items():
        runs[name] = run_vodkit(root / _dir(name), source, seconds, **settings)
        Path("build/bench", f"chunking-{seconds}s-{_dir(name)}.log").write_text(settings_log[_dir(name)])
        print(f"{seconds} s, {name}: {runs[name]}", file=sys.stderr)
    print(chunking_table(seconds, one_command, runs))
    overhead = runs["chunked, 1 worker"]["published_s"] / runs["single pass"]["published_s"]
    print(f"\ntarget: one worker, chunked / single pass ≤ {TARGET_CHUNK_OVERHEAD}: {overhead:.3f}")
    return overhead <= TARGET_CHUNK_OVERHEAD


UPLOAD_MBPS = 20


def make_upload(path: Path, seconds: int) -> None:
    """The Mandelbrot zoom at an upload's bitrate; beyond a minute, its first minute looped (stream copy)."""
    if path.exists():
        return
    minute = path.with_name("upload-1080p-minute.mp4")
    if not minute.exists():
        mezzanine = path.with_name("source-1080p-60s.mp4")
        make_source(mezzanine, 60)
        kbps = UPLOAD_MBPS * 1000
        video = ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-g", "30"]
        rate = ["-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{2 * kbps}k"]
        ffmpeg("-i", str(mezzanine), *video, *rate, "-c:a", "aac", "-b:a", "192k", str(minute))
    if seconds <= 60:
        ffmpeg("-i", str(minute), "-t", str(seconds), "-c", "copy", str(path))
    else:
        ffmpeg("-stream_loop", str(seconds // 60), "-i", str(minute), "-t", str(seconds), "-c", "copy", str(path))


def table(runs: list[Publish]) -> str:
    lines = [
        "| source (1080p) | playable (status) | first frame in hls.js | stalled in total | early viewer error "
        "| full ladder published (c) | one-command ladder (b) | c/b |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r.seconds} s | {r.playable_s:.1f} s | {r.first_frame_s:.1f} s | {r.stalled_s:.2f} s "
            f"| {r.viewer_error or 'none'} | {r.published_s:.1f} s | {r.one_command_s:.1f} s | {r.ratio:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, nargs="+", default=[60])
    parser.add_argument("--mezzanine", action="store_true", help="bench-media's CRF 16 source (~116 Mbit/s)")
    parser.add_argument("--json", type=Path, default=Path("build/bench/publish.json"))
    parser.add_argument("--chunking", action="store_true", help="single pass against 60 s chunks, 1 and 2 workers")
    args = parser.parse_args()
    runs: list[Publish] = []
    for seconds in args.seconds:
        if args.mezzanine:
            source = Path("build/bench") / f"source-1080p-{seconds}s.mp4"
            make_source(source, seconds)
        else:
            source = Path("build/bench") / f"upload-1080p-{seconds}s.mp4"
            make_upload(source, seconds)
        with tempfile.TemporaryDirectory(prefix="vodkit-publish-bench-") as work:
            root = Path(work)
            if args.chunking:
                if not chunking(source, seconds, root):
                    return 1
                continue
            one_command = timed(lambda out, source=source: split_ladder(source, out), root / "b")
            print(f"{seconds} s: one-command ladder {one_command:.1f} s", file=sys.stderr)
            figures = run_vodkit(root / "c", source, seconds)
            runs.append(Publish(seconds=seconds, one_command_s=one_command, **figures))
            print(f"{seconds} s: vodkit {figures}", file=sys.stderr)
    if args.chunking:
        return 0
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([{**asdict(r), "ratio": r.ratio} for r in runs], indent=2))
    print(table(runs))
    print(
        f"\ntargets: first frame ≤ {TARGET_FIRST_FRAME_S:.0f} s, stalls ≤ {TARGET_STALL_S:.0f} s in total, "
        f"c/b ≤ {TARGET_RATIO}"
    )
    met = all(
        r.first_frame_s <= TARGET_FIRST_FRAME_S
        and r.stalled_s <= TARGET_STALL_S
        and r.viewer_error is None
        and r.ratio <= TARGET_RATIO
        for r in runs
    )
    print("all met" if met else "NOT all met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
