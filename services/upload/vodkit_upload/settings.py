from pydantic import Field

from vodkit_shared.settings import CommonSettings


class UploadSettings(CommonSettings):
    port: int = Field(8081, description="Port of the upload service's HTTP server.")
    max_chunk_bytes: int = Field(64 * 1024**2, ge=1, description="Largest chunk accepted (413 beyond).")
    upload_expiry_s: float = Field(24 * 3600, gt=0, description="An upload with no chunk for this long expires.")
    sweep_interval_s: float = Field(600, gt=0, description="How often abandoned uploads are looked for.")
    max_total_chunks: int = Field(100_000, ge=1, description="Most chunks one upload may have.")
