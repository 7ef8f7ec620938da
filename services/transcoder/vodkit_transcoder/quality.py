"""SSIM and PSNR of a rendition against the source scaled to the rendition's size (ffmpeg's own filters).

Measuring decodes the source again, so it runs after the renditions are announced (packaging
need not wait for it) and under `nice`, so that it yields the CPU to transcodes and packaging.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from vodkit_shared.media_input import MediaInput
from vodkit_shared.tools import run_capturing
from vodkit_transcoder.encode import tonemapped
from vodkit_transcoder.source import SourceInfo

PSNR_CAP = 100.0  # identical frames have an infinite PSNR, which JSON cannot carry
_SSIM = re.compile(r"SSIM .*All:([0-9.]+)")
_PSNR = re.compile(r"PSNR .*average:([0-9.]+|inf)")


@dataclass(frozen=True)
class Quality:
    ssim: float
    psnr: float


def command(source: Path, info: SourceInfo, rendition: Path, width: int, height: int) -> list[str]:
    upload, ours = MediaInput.untrusted(source), MediaInput.own(rendition)
    reference = ffmpeg.input(upload.url, **upload.options).video
    reference = tonemapped(reference) if info.hdr else reference
    ref = reference.filter("scale", width, height, flags="bicubic").filter("format", "yuv420p").split()
    dist = ffmpeg.input(ours.url, **ours.options).video.filter("format", "yuv420p").split()
    ssim = ffmpeg.filter([dist[0], ref[0]], "ssim")
    psnr = ffmpeg.filter([dist[1], ref[1]], "psnr")
    outputs = [ffmpeg.output(ssim, "/dev/null", f="null"), ffmpeg.output(psnr, "/dev/null", f="null")]
    argv = ffmpeg.merge_outputs(*outputs).global_args("-nostdin", "-hide_banner").compile()
    return ["nice", "-n", "10", *(str(arg) for arg in argv)]


async def measure(source: Path, info: SourceInfo, rendition: Path, width: int, height: int) -> Quality:
    _, stderr = await run_capturing(command(source, info, rendition, width, height))
    text = stderr.decode(errors="replace")
    ssim, psnr = _SSIM.search(text), _PSNR.search(text)
    if not (ssim and psnr):
        raise ValueError("ffmpeg reported no SSIM or PSNR")
    return Quality(float(ssim.group(1)), min(PSNR_CAP, float(psnr.group(1))))
