"""Choosing the H.264 encoder: NVENC on GPU nodes that have it, libx264 everywhere else.

`auto` trusts nothing it has not seen work: ffmpeg must list h264_nvenc, and a one-frame trial of
the whole GPU path (CUDA device, scale_cuda, h264_nvenc) must succeed. Datacenter GPUs such as the
A100, H100 and H200 decode (NVDEC) but have no NVENC encoder; the trial fails there and vodkit
falls back to libx264.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from vodkit_shared.tools import ToolFailed, run

log = logging.getLogger(__name__)
Mode = Literal["auto", "none", "nvenc"]
Encoder = Literal["libx264", "nvenc"]

TRIAL = [
    "ffmpeg",
    "-hide_banner",
    "-nostdin",
    "-v",
    "error",
    "-init_hw_device",
    "cuda=gpu",
    "-filter_hw_device",
    "gpu",
    "-f",
    "lavfi",
    "-i",
    "color=black:size=256x144:duration=0.1",
    "-vf",
    "hwupload,scale_cuda=128:72",
    "-frames:v",
    "1",
    "-c:v",
    "h264_nvenc",
    "-f",
    "null",
    "-",
]


class HardwareUnavailable(Exception):
    """NVENC was required (`VODKIT_HWACCEL=nvenc`) but cannot be used here."""


@dataclass(frozen=True)
class Accel:
    encoder: Encoder
    reason: str


async def choose(mode: Mode) -> Accel:
    if mode == "none":
        return Accel("libx264", "VODKIT_HWACCEL=none")
    problem = await nvenc_problem()
    if problem is None:
        return Accel("nvenc", "a one-frame CUDA + scale_cuda + h264_nvenc trial passed")
    if mode == "nvenc":
        raise HardwareUnavailable(f"VODKIT_HWACCEL=nvenc, but {problem}")
    return Accel("libx264", f"no usable NVENC: {problem}")


async def nvenc_problem() -> str | None:
    """Why NVENC cannot be used here, or None if it can."""
    try:
        encoders = (await run(["ffmpeg", "-hide_banner", "-encoders"])).decode()
    except (ToolFailed, OSError) as error:
        return f"ffmpeg cannot list its encoders ({error})"
    if "h264_nvenc" not in encoders:
        return "this ffmpeg has no h264_nvenc encoder"
    try:
        await run(TRIAL)
    except ToolFailed as error:
        last = error.stderr_tail.splitlines()[-1] if error.stderr_tail else "no output"
        return f"a one-frame NVENC trial encode failed ({last})"
    return None
