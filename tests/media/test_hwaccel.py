"""Encoder choice on this machine, for real: it has an ffmpeg that lists h264_nvenc but no NVIDIA GPU,
the case detection must see through (the same happens on GPUs with NVDEC but no NVENC: A100, H100)."""

from __future__ import annotations

import shutil

import pytest

from vodkit_transcoder.hwaccel import HardwareUnavailable, choose, nvenc_problem

pytestmark = [
    pytest.mark.media,
    pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="an NVIDIA GPU is present"),
]


async def test_auto_falls_back_to_libx264_and_says_why() -> None:
    accel = await choose("auto")
    assert accel.encoder == "libx264"
    assert "no usable NVENC" in accel.reason


async def test_a_required_nvenc_that_is_missing_stops_the_start_with_a_reason() -> None:
    problem = await nvenc_problem()
    assert problem is not None
    with pytest.raises(HardwareUnavailable, match="VODKIT_HWACCEL=nvenc, but"):
        await choose("nvenc")


async def test_none_never_probes() -> None:
    assert (await choose("none")).encoder == "libx264"
