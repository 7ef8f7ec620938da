"""`make bench-seams`: quality at a chunked ladder's seams against a single pass, on a real 1080p source.

The 60 s upload of `make bench-publish` (the Mandelbrot zoom at 20 Mbit/s, a keyframe a second), encoded
by the transcoder (x264 `medium`, as deployed) twice: in one pass, and in 12 s chunks (four seams). For
every rung, the SSIM of each frame against the source scaled to the rung (ffmpeg's `ssim`); printed,
for each seam, the mean over the 30 frames around it (half a second each side) in both encodes and
their difference, and the whole rendition's mean. Target (issue 16): within 0.01 at every seam. The
bench passes when no seam is worse than the single pass by more than that, and prints the largest
difference either way (a chunk starts with a fresh VBV buffer, so its first frames may be better).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from bench.publish import make_upload
from tests.media.test_chunked_ladder import frames, ladder, ssim_per_frame

CHUNK_S = 12
RUNGS = {"1080p": (1920, 1080), "720p": (1280, 720), "480p": (854, 480)}
TARGET = 0.01


async def main() -> int:
    source = Path("build/bench/upload-1080p-60s.mp4")
    make_upload(source, 60)
    with tempfile.TemporaryDirectory(prefix="vodkit-seams-bench-") as work:
        root = Path(work)
        await ladder(root, "single", source, chunk_s=0, preset="medium")
        await ladder(root, "chunked", source, chunk_s=CHUNK_S, chunks=5, preset="medium")
        rate = len(frames(root / "single-480p.mp4")) / 60
        print("| rung | seam | single pass | chunked | difference |\n|---|---:|---:|---:|---:|")
        worst, widest = 0.0, 0.0
        for rung, (width, height) in RUNGS.items():
            single = ssim_per_frame(root / f"single-{rung}.mp4", source, width, height, root / "s.ssim")
            chunked = ssim_per_frame(root / f"chunked-{rung}.mp4", source, width, height, root / "c.ssim")
            for seam in range(CHUNK_S, 60, CHUNK_S):
                around = slice(round(seam * rate) - 15, round(seam * rate) + 15)
                a, b = sum(single[around]) / 30, sum(chunked[around]) / 30
                worst, widest = max(worst, a - b), max(widest, abs(a - b))
                print(f"| {rung} | {seam} s | {a:.4f} | {b:.4f} | {b - a:+.4f} |")
            whole_a, whole_b = sum(single) / len(single), sum(chunked) / len(chunked)
            print(f"| {rung} | whole | {whole_a:.4f} | {whole_b:.4f} | {whole_b - whole_a:+.4f} |")
    verdict = "met" if worst <= TARGET else "NOT met"
    print(f"\nworst seam: chunked below the single pass by {worst:.4f} (≤ {TARGET}: {verdict}); widest {widest:.4f}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
