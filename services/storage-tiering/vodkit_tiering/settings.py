from pydantic import Field

from vodkit_shared.settings import CommonSettings


class TieringSettings(CommonSettings):
    port: int = Field(8084, description="Port of the storage-tiering service's HTTP server (health, metrics).")
