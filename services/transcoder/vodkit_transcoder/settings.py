from pathlib import Path
from typing import Literal

from pydantic import Field

from vodkit_shared.settings import CommonSettings


class TranscoderSettings(CommonSettings):
    port: int = Field(8082, description="Port of the transcoder's HTTP server (health, metrics).")
    hwaccel: Literal["auto", "none", "nvenc"] = Field(
        "auto", description="auto: NVENC if a trial encode works, else libx264; nvenc: NVENC or refuse to start."
    )
    x264_preset: str = Field("medium", description="libx264 preset; the seed's is 'medium'.")
    work_dir: Path | None = Field(None, description="Scratch space for sources and renditions.")
    measure_quality: bool = Field(True, description="Measure SSIM and PSNR of every rung after encoding.")
    slots: int = Field(1, ge=1, description="Transcodes this process runs at once.")
    job_lease_s: float = Field(60.0, gt=0, description="A job's lease; renewed every third of it while running.")
    job_poll_s: float = Field(2.0, gt=0, description="How often idle workers look for due jobs.")
