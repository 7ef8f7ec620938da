from pydantic import Field

from vodkit_shared.settings import CommonSettings


class CdnPurgeSettings(CommonSettings):
    port: int = Field(8085, description="Port of the cdn-purge service's HTTP server (health, metrics).")
