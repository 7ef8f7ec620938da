from pathlib import Path

from pydantic import Field

from vodkit_shared.settings import CommonSettings


class TranscoderSettings(CommonSettings):
    port: int = Field(8082, description="Port of the transcoder's HTTP server (health, metrics).")
    x264_preset: str = Field("medium", description="libx264 preset; the seed's is 'medium'.")
    work_dir: Path | None = Field(None, description="Scratch space for sources and renditions.")
