from pathlib import Path

from pydantic import Field

from vodkit_shared.settings import CommonSettings


class PackagerSettings(CommonSettings):
    port: int = Field(8083, description="Port of the packager's HTTP server (health, metrics).")
    work_dir: Path | None = Field(None, description="Scratch space for renditions and segments.")
