from pydantic import Field

from vodkit_shared.settings import CommonSettings


class TieringSettings(CommonSettings):
    port: int = Field(8084, description="Port of the storage-tiering service's HTTP server (health, metrics).")
    tier_warm_after_days: float = Field(30, gt=0, description="Idle days after which a video goes warm.")
    tier_cold_after_days: float = Field(90, gt=0, description="Idle days after which a video goes cold.")
    tier_promote_on_access: bool = Field(True, description="Bring a watched warm or cold video back to hot.")
    tier_interval_s: float = Field(3600, gt=0, description="How often a tiering pass runs.")
    tier_bytes_per_s: float = Field(50 * 1024**2, ge=0, description="Copy rate limit of a pass (0: none).")
    tier_concurrency: int = Field(4, ge=1, description="Objects copied at once.")
