"""For the watermark's tests: small PNGs made in pure Python, and pictures compared where it lies."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

from vodkit_shared.watermarks import Placement


def chunk(name: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))


def solid_png(width: int, height: int, rgba: tuple[int, int, int, int] = (255, 0, 0, 255), alpha: bool = True) -> bytes:
    """One colour all over: RGBA (colour type 6), or RGB without any transparency (colour type 2)."""
    pixel = bytes(rgba if alpha else rgba[:3])
    rows = b"".join(b"\x00" + pixel * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


COLOUR = (255, 0, 0)  # pure red: far from anything testsrc2 draws in that corner on average
OPACITY = 0.6
PLACEMENT = Placement(position="bottom-right", margin=0.05, scale=0.2, opacity=OPACITY)
FRAME_AT_S = 1.0
INSET = 4  # pixels left out along the watermark's edges: scaling and 4:2:0 chroma blur them


def frame(media: Path, width: int, height: int, at_s: float = FRAME_AT_S, container: str = "mp4") -> bytes:
    """One decoded picture as RGB24 bytes."""
    argv = ["ffmpeg", "-v", "error", "-f", container, "-i", str(media), "-ss", str(at_s), "-frames:v", "1"]
    argv += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    data = subprocess.run(argv, check=True, capture_output=True).stdout
    assert len(data) == width * height * 3
    return data


def mark_box(width: int, height: int) -> tuple[int, int, int, int]:
    """Where the square watermark lies on a frame of this size (bottom right), shrunk by INSET: x0, y0, x1, y1."""
    side, margin = PLACEMENT.scale * height, PLACEMENT.margin * height
    x1, y1 = width - margin, height - margin
    return int(x1 - side) + INSET, int(y1 - side) + INSET, int(x1) - INSET, int(y1) - INSET


def compare(marked: bytes, clean: bytes, width: int, height: int) -> tuple[float, float, float]:
    """Mean absolute differences: of the watermark's region from the clean frame, of that region from the
    expected blend (the overlay's colour at its opacity over the clean frame), of the rest from the clean frame."""
    x0, y0, x1, y1 = mark_box(width, height)
    inside_changed = inside_off = 0.0
    count = 0
    for y in range(y0, y1):
        for x in range(x0, x1):
            at = (y * width + x) * 3
            for c in range(3):
                expected = OPACITY * COLOUR[c] + (1 - OPACITY) * clean[at + c]
                inside_changed += abs(marked[at + c] - clean[at + c])
                inside_off += abs(marked[at + c] - expected)
                count += 1
    # the rest: every pixel but a band around the watermark (scaling spreads its edge a little)
    band = mark_box(width, height)
    outside, others = 0.0, 0
    for y in range(0, height, 2):
        for x in range(0, width, 2):
            if band[0] - 2 * INSET <= x < band[2] + 2 * INSET and band[1] - 2 * INSET <= y < band[3] + 2 * INSET:
                continue
            at = (y * width + x) * 3
            outside += sum(abs(marked[at + c] - clean[at + c]) for c in range(3))
            others += 3
    return inside_changed / count, inside_off / count, outside / others


def assert_watermarked(marked: bytes, clean: bytes, width: int, height: int) -> None:
    changed, off, rest = compare(marked, clean, width, height)
    assert changed > 40, f"the watermark's region hardly changed ({changed:.1f}) at {height}p"
    assert off < 8, f"the region is not the blended colour (off by {off:.1f}) at {height}p"
    assert rest < 3, f"the rest of the picture changed ({rest:.1f}) at {height}p"
