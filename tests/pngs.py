"""Small PNGs made in pure Python, for the watermark's tests."""

from __future__ import annotations

import struct
import zlib


def chunk(name: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))


def solid_png(width: int, height: int, rgba: tuple[int, int, int, int] = (255, 0, 0, 255), alpha: bool = True) -> bytes:
    """One colour all over: RGBA (colour type 6), or RGB without any transparency (colour type 2)."""
    pixel = bytes(rgba if alpha else rgba[:3])
    rows = b"".join(b"\x00" + pixel * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
