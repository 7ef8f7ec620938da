from typing import Literal

from pydantic import Field

from vodkit_shared.settings import CommonSettings


class CdnPurgeSettings(CommonSettings):
    port: int = Field(8085, description="Port of the cdn-purge service's HTTP server (health, metrics).")
    cdn_nodes: list[str] = Field(
        default_factory=list, description="Base URLs of the cache nodes to purge (JSON list); none: purge nothing."
    )
    cdn_method: Literal["BAN", "PURGE"] = Field(
        "BAN", description="BAN: one regex per request, every query string (token) included; PURGE: exact URLs."
    )
    cdn_timeout_s: float = Field(10, gt=0, description="Time limit of one purge request.")
