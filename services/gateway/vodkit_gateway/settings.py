from pydantic import Field

from vodkit_shared.settings import CommonSettings


class GatewaySettings(CommonSettings):
    port: int = Field(8080, description="Public port of the gateway.")
    upload_url: str = Field("http://127.0.0.1:8081", description="Base URL of the upload service.")
    public_url: str = Field("", description="Base URL clients see (default: from the request's Host).")
    max_upload_bytes: int = Field(50 * 1024**3, ge=1, description="Largest file a video may be (413 beyond).")
    upload_expiry_s: float = Field(
        25 * 3600,
        gt=0,
        description="A video with no upload activity this long fails (after the upload sweeper's 24 h).",
    )
    sweep_interval_s: float = Field(600, gt=0, description="How often silent uploads are looked for.")
    chunk_size: int = Field(8 * 1024**2, ge=1024, description="Chunk size suggested to uploaders.")
    playback_ttl_s: int = Field(6 * 3600, ge=60, description="Life of a playback URL's token.")
