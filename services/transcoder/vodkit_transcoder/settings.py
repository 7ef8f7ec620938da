from pathlib import Path
from typing import Literal

from pydantic import Field

from vodkit_shared.settings import CommonSettings
from vodkit_transcoder.source import SourceLimits


class TranscoderSettings(CommonSettings):
    port: int = Field(8082, description="Port of the transcoder's HTTP server (health, metrics).")
    hwaccel: Literal["auto", "none", "nvenc"] = Field(
        "auto", description="auto: NVENC if a trial encode works, else libx264; nvenc: NVENC or refuse to start."
    )
    x264_preset: str = Field("medium", description="libx264 preset; the seed's is 'medium'.")
    preview: bool = Field(
        True,
        description="Make a video playable seconds after assembly at a fast preview rendition, while the ladder "
        "encodes (a growing HLS playlist; `video.playable`).",
    )
    preview_min_seconds: float = Field(
        10.0,
        ge=0,
        description="Sources shorter than this get no preview: their ladder is soon done, and a preview costs "
        "about a third of a core at 1x of a 1080p source.",
    )
    ladder_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="CPU niceness of the ladder's ffmpeg while a preview runs beside it, so the preview keeps "
        "ahead of playback on a busy node (0: none).",
    )
    chunk_min_seconds: float = Field(
        300.0,
        ge=0,
        description="Sources this long or longer are encoded in chunks, each a job any transcoder takes, "
        "then stitched: a long video's ladder spreads across the pool.",
    )
    chunk_seconds: float = Field(
        60.0,
        ge=0,
        description="Length of a chunk, rounded up to whole HLS segments (0: never chunk).",
    )
    work_dir: Path | None = Field(None, description="Scratch space for sources and renditions.")
    measure_quality: bool = Field(True, description="Measure SSIM and PSNR of every rung after encoding.")
    slots: int = Field(1, ge=1, description="Transcodes this process runs at once.")
    threads: int | None = Field(
        None,
        ge=1,
        description="ffmpeg threads for each transcode (decoder, filters, each encoder); default: the "
        "container's CPU limit (cgroup quota, else the CPUs it may run on) divided among its slots.",
    )
    job_lease_s: float = Field(60.0, gt=0, description="A job's lease; renewed every third of it while running.")
    job_poll_s: float = Field(2.0, gt=0, description="How often idle workers look for due jobs.")
    job_max_crashes: int = Field(
        3,
        ge=1,
        description="Claims a job may lose with their worker (killed, out of memory) and still run; one more fails it.",
    )
    max_frame_side: int = Field(8192, gt=0, description="Refuse sources wider or taller than this (pixels).")
    max_frame_pixels: int = Field(8192 * 4320, gt=0, description="Refuse sources with more pixels a frame (DCI 8K).")
    max_duration_s: float = Field(12 * 3600, gt=0, description="Refuse sources that last longer (seconds).")
    max_frame_rate: float = Field(1000, gt=0, description="Refuse sources that claim more frames a second.")
    min_bytes_per_s: float = Field(
        256, ge=0, description="Refuse sources with fewer bytes per second of claimed duration (a decode bomb)."
    )

    @property
    def source_limits(self) -> SourceLimits:
        return SourceLimits(
            max_side=self.max_frame_side,
            max_pixels=self.max_frame_pixels,
            max_duration_s=self.max_duration_s,
            max_frame_rate=self.max_frame_rate,
            min_bytes_per_s=self.min_bytes_per_s,
        )
