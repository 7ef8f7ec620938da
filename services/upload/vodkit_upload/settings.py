from pydantic import Field

from vodkit_shared.settings import CommonSettings


class UploadSettings(CommonSettings):
    port: int = Field(8081, description="Port of the upload service's HTTP server.")
    max_chunk_bytes: int = Field(64 * 1024**2, ge=1, description="Largest chunk accepted (413 beyond).")
    max_total_chunks: int = Field(100_000, ge=1, description="Most chunks one upload may have.")
