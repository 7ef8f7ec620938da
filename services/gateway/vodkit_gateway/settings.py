from pathlib import Path
from typing import Literal

from pydantic import Field

from vodkit_shared.settings import CommonSettings

# every consumer (service name of its subscriptions) whose dead letters the job console reaches
DEAD_LETTER_SERVICES = (
    "upload", "transcoder", "packager", "storage-tiering", "cdn-purge", "gateway", "gateway-webhooks",
)  # fmt: skip
_WEB = Path(__file__).resolve().parents[1] / "web"


class GatewaySettings(CommonSettings):
    port: int = Field(8080, description="Public port of the gateway.")
    upload_url: str = Field("http://127.0.0.1:8081", description="Base URL of the upload service.")
    public_url: str = Field("", description="Base URL clients see (default: from the request's Host).")
    max_upload_bytes: int = Field(50 * 1024**3, ge=1, description="Largest file a video may be (413 beyond).")
    max_json_bytes: int = Field(16 * 1024, ge=256, description="Largest JSON request body (413 beyond).")
    upload_expiry_s: float = Field(
        25 * 3600,
        gt=0,
        description="A video with no upload activity this long fails (after the upload sweeper's 24 h).",
    )
    sweep_interval_s: float = Field(600, gt=0, description="How often silent uploads are looked for.")
    chunk_size: int = Field(8 * 1024**2, ge=1024, description="Chunk size suggested to uploaders.")
    playback_ttl_s: int = Field(6 * 3600, ge=60, description="Life of a playback URL's token.")
    default_encryption: Literal["none", "aes-128"] = Field(
        "none", description="A new video's encryption when its creation does not choose one."
    )
    key_rotation_segments: int = Field(
        10, ge=1, description="An encrypted video's segments under one AES key before the next (fixed at creation)."
    )
    thumbnail_concurrency: int = Field(2, ge=1, description="Thumbnails made at once (each an ffmpeg).")
    thumbnail_cache_entries: int = Field(
        500, ge=0, description="Thumbnails kept in the gateway's memory (the last asked for) and answered again."
    )
    # user tokens from an identity provider (RS256); vodkit's own HS256 tokens are always accepted
    jwks_url: str = Field("", description="JWKS URL of an identity provider whose RS256 tokens are accepted.")
    jwt_issuer: str = Field("", description="Required `iss` of RS256 user tokens (unchecked if empty).")
    jwt_audience: str = Field("", description="Required `aud` of RS256 user tokens (unchecked if empty).")
    # rate limits per client (user, else address) and route class, over a sliding window; the seed's
    # 100 per 15 min holds for API writes, while reads get enough for a client polling once a second
    rate_limit_window_s: float = Field(900, gt=0, description="Length of the rate-limit window.")
    rate_limit_api: int = Field(
        100, ge=1, description="API writes (create, change, delete, renew a token) per client per window."
    )
    rate_limit_read: int = Field(
        1800, ge=1, description="API reads (status, details, lists, live) per client per window: 2 a second."
    )
    rate_limit_upload: int = Field(
        2000, ge=1, description="Upload requests (chunks, tus) per client per window: 16 GiB at 8 MiB chunks."
    )
    rate_limit_playback: int = Field(
        3000, ge=1, description="Playback requests per client per window: a viewer fetches a segment every 2–15 s."
    )
    rate_limit_analytics: int = Field(
        1800, ge=1, description="Player reports per client per window: 20 players behind one address, one every 10 s."
    )
    rate_limits_enabled: bool = Field(True, description="Turn every rate limit off (tests, trusted networks).")
    trusted_proxy_hops: int = Field(
        0, ge=0, description="Proxies in front that append to X-Forwarded-For; 0 uses the peer address."
    )
    cors_origins: list[str] = Field(default_factory=list, description="Other origins allowed to call the API.")
    live_stream_s: float = Field(55, gt=0, description="How long one server-sent event stream stays open.")
    live_poll_s: float = Field(1, gt=0, description="How often a server-sent event stream checks for changes.")
    admin_users: list[str] = Field(
        default_factory=list,
        description="User ids with the admin role (job console), besides tokens whose `roles` claim says so.",
    )
    dead_letter_services: list[str] = Field(
        default_factory=lambda: list(DEAD_LETTER_SERVICES),
        description="Consumers whose dead letters the job console shows and replays.",
    )
    web_dir: Path = Field(_WEB, description="Directory of the web page and its installed npm packages.")
    # subtitles (subtitles_api.py): the file travels whole in its `subtitles.added` event
    max_subtitle_bytes: int = Field(
        512 * 1024, ge=1024, le=8 * 1024**2, description="Largest subtitle file, and its WebVTT (413 beyond)."
    )
    max_subtitle_tracks: int = Field(20, ge=1, description="Subtitle languages one video may have (409 beyond).")
    # watermarks (watermark_api.py): kept in the metadata store, base64, so small
    watermark_max_bytes: int = Field(
        256 * 1024, ge=1024, le=4 * 1024**2, description="Largest watermark PNG (413 beyond)."
    )
    watermark_max_side: int = Field(
        1024, ge=16, le=4096, description="Largest width or height of a watermark PNG, in pixels (400 beyond)."
    )
    # webhooks (webhooks.py, webhook_delivery.py, webhook_guard.py)
    webhook_allow_private: bool = Field(
        False, description="Let webhooks call loopback, private, link-local and reserved addresses (tests, LANs)."
    )
    webhook_retry_for_s: float = Field(24 * 3600, gt=0, description="How long a delivery is retried before it fails.")
    webhook_retry_base_s: float = Field(10, gt=0, description="Wait after a delivery's first failed attempt; doubles.")
    webhook_retry_max_delay_s: float = Field(3600, gt=0, description="Longest wait between two attempts.")
    webhook_connect_timeout_s: float = Field(3, gt=0, description="Time to connect to a webhook's receiver.")
    webhook_timeout_s: float = Field(10, gt=0, description="Time for a whole delivery attempt, answer included.")
    webhook_interval_s: float = Field(1, gt=0, description="How often due deliveries are looked for.")
    webhook_max_per_user: int = Field(20, ge=1, description="Webhooks one user may have.")
    webhook_log_keep_s: float = Field(7 * 24 * 3600, gt=0, description="How long ended deliveries stay in the log.")
    # playback analytics (analytics_api.py, analytics_intake.py, vodkit_shared.analytics)
    analytics_retention_s: float = Field(
        30 * 24 * 3600,
        ge=2 * 24 * 3600,
        description="How long raw playback samples are kept (whole UTC days); daily rollups are kept for good.",
    )
    analytics_sweep_interval_s: float = Field(
        3600, gt=0, description="How often recent days are rolled up and expired samples deleted."
    )
    analytics_queue_samples: int = Field(
        100_000, ge=100, description="Samples accepted but not yet stored beyond which reports are shed (503)."
    )
    analytics_max_range_days: int = Field(366, ge=1, description="Longest range (days) one analytics answer covers.")

    @property
    def strict_transport(self) -> bool:
        """Whether clients reach the gateway over https only (then answers carry HSTS)."""
        return self.public_url.startswith("https://")
