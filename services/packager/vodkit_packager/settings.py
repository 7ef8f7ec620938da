from pathlib import Path
from typing import Literal

from pydantic import Field

from vodkit_shared.settings import CommonSettings


class PackagerSettings(CommonSettings):
    port: int = Field(8083, description="Port of the packager's HTTP server (health, metrics).")
    segment_format: Literal["mpegts", "fmp4"] = Field("mpegts", description="HLS segments: MPEG-TS or fMP4/CMAF.")
    work_dir: Path | None = Field(None, description="Scratch space for renditions and segments.")
