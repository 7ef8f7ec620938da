"""Origin offload of the edge VCL: N viewers (default 50), each with a token of its own, play one rung of
one video through Varnish, first through the edge VCL (deploy/edge/varnish/vodkit.vcl: tokens checked
at the edge, segments keyed by path), then through a cache keyed by the full URL, the token included
(how a cache keyed vodkit's playback before). Both caches run side by side on loopback in front of one
`vodkit up`, each with a counting proxy as its origin, so what reached the origin is counted where it
arrives. The video is the e2e tests' kind of clip (1280x720 with motion, noise and a tone), 30 s by default
(`--seconds`), packaged with the default ladder; each viewer plays its first rung (720p).

Run from the repository root (it uses the e2e tests' harness): `.venv/bin/python -m bench.edge_offload`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.cache import EDGE_VCL, PER_URL_VCL, CountingOrigin, audience, start_varnish
from tests.e2e.conftest import _start, _stop, _wait_healthy
from tests.e2e.pipeline import VODKIT, Client, service_env, user_token
from tests.support import free_port, make_clip
from vodkit_shared.tokens import Tokens


@dataclass(frozen=True)
class Run:
    keying: str
    viewers: int
    segments: int  # in the rung each viewer plays
    segment_fetches: int  # segment requests that reached the origin
    playlist_fetches: int
    origin_bytes: int
    viewer_bytes: int
    cache_bytes: int  # what the cache's storage holds afterwards
    seconds: float


def measure(label: str, cache: int, instance: Path, origin: CountingOrigin, tokens: list[str], video: str) -> Run:
    started = time.monotonic()
    viewings = asyncio.run(audience([f"http://127.0.0.1:{cache}/videos/{video}/master.m3u8?token={t}" for t in tokens]))
    seconds = time.monotonic() - started
    paths = viewings[0].bodies
    return Run(
        label,
        len(tokens),
        sum("/seg_" in path for path in paths),
        sum(n for path, n in origin.fetches.items() if "/seg_" in path),
        sum(n for path, n in origin.fetches.items() if path.endswith(".m3u8")),
        origin.bytes,
        sum(len(body) for viewing in viewings for body in viewing.bodies.values()),
        storage_held(instance),
        seconds,
    )


def storage_held(instance: Path) -> int:
    """Bytes in the cache's malloc storage (varnishstat's SMA.s0.g_bytes)."""
    stats = subprocess.run(
        ["varnishstat", "-n", str(instance), "-1", "-j", "-f", "SMA.s0.g_bytes"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(json.loads(stats.stdout)["counters"]["SMA.s0.g_bytes"]["value"])


def table(runs: list[Run]) -> str:
    lines = [
        "| keying | viewers | segments per viewer | origin segment fetches | origin playlist fetches "
        "| origin body bytes | bytes to viewers | cache storage held | wall time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(
            f"| {run.keying} | {run.viewers} | {run.segments} | {run.segment_fetches} | {run.playlist_fetches} "
            f"| {run.origin_bytes:,} | {run.viewer_bytes:,} | {run.cache_bytes:,} | {run.seconds:.2f} s |"
        )
    return "\n".join(lines)


async def upload(base_url: str, env: dict[str, str], clip: Path) -> str:
    client = Client(base_url, user_token(env, "bench"))
    video = await client.upload(clip)
    status = await client.wait_until_settled(video, timeout=600)
    if status["status"] != "completed":
        raise SystemExit(f"the video did not complete: {status}")
    return video


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30, help="length of the generated clip")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vodkit-edge-bench-") as work:
        root = Path(work)
        secret = uuid.uuid4().hex
        gateway_port = free_port()
        env = service_env(
            data_dir=str(root / "data"), auth_secret=secret, x264_preset="veryfast", chunk_size=str(256 * 1024)
        )
        key = subprocess.run([*VODKIT, "edge-key"], env=env, check=True, capture_output=True, text=True)
        clip = make_clip(root / "clip.mp4", seconds=args.seconds, width=1280, height=720)
        log = root / "vodkit-up.log"
        processes = [_start([*VODKIT, "up", "--port", str(gateway_port)], env, log)]
        try:
            _wait_healthy(f"http://127.0.0.1:{gateway_port}/readyz", processes, [log])
            video = asyncio.run(upload(f"http://127.0.0.1:{gateway_port}", env, clip))
            tokens = Tokens(secret)
            runs = []
            setups = [
                ("edge VCL (by path)", EDGE_VCL, {"VODKIT_EDGE_PLAYBACK_KEY": key.stdout.strip()}),
                ("per URL (token in the key)", PER_URL_VCL, {}),
            ]
            for n, (label, vcl, varnish_env) in enumerate(setups):
                with CountingOrigin(gateway_port) as origin:
                    # room for every copy: a per-URL cache holds one per viewer, and an object evicted
                    # while it streams reaches its viewer cut short
                    workdir = root / f"varnish-{n}"
                    varnish, cache = start_varnish(workdir, origin.port, vcl, varnish_env, storage="malloc,4g")
                    processes.append(varnish)
                    viewers = [tokens.playback_token(video, 3600 + n * args.viewers + i) for i in range(args.viewers)]
                    runs.append(measure(label, cache, workdir / "instance", origin, viewers, video))
        finally:
            _stop(processes)
    print(table(runs))
    if args.json:
        print(json.dumps([run.__dict__ for run in runs], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
