"""The gateway's request and response bodies: the handlers build them, the OpenAPI document is made of them.

Field names are camelCase on the wire (`videoId`), snake_case in Python.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from vodkit_gateway.videos import Quality, Status, Visibility

VIDEO_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
MAX_UPLOAD = "{max_upload_bytes}"  # in the OpenAPI document: the configured limit, filled in when it is built


class Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ErrorDetail(Body):
    code: str = Field(description="Stable machine-readable code, e.g. `bad_request`.")
    message: str = Field(description="What was wrong, for a person.")


class ErrorBody(Body):
    error: ErrorDetail


class RequestBody(Body):
    """What a client sends: types as JSON has them (`"size": true` is not 1, `"size": "5"` is not 5)."""

    model_config = ConfigDict(strict=True)


def _json_integer(value: object) -> object:
    """JSON Schema's integer: `5` and `5.0` alike (strict mode alone refuses the second)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInteger = Annotated[int, BeforeValidator(_json_integer)]


class CreateVideo(RequestBody):
    filename: str = Field(min_length=1, max_length=255, description="Name of the file to upload.")
    size: JsonInteger = Field(ge=1, description="Bytes in the file.", json_schema_extra={"maximum": MAX_UPLOAD})
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$", description="Hex SHA-256 of the whole file.")
    visibility: Visibility = Field("private", description="Who may watch: the owner, anyone with the link, anyone.")


class UpdateVideo(RequestBody):
    visibility: Visibility = Field(description="Who may watch: the owner, anyone with the link, anyone.")


class UploadGrantBody(Body):
    video_id: str = Field(description="The new video's id.")
    upload_token: str = Field(description="Bearer token for `POST /api/videos/upload`, valid one hour.")
    chunk_size: int = Field(description="Suggested chunk size in bytes.")
    expires_at: int = Field(description="When the upload token expires (Unix seconds).")


class RungQuality(Body):
    ssim: float = Field(description="Mean SSIM of the rung against the source, 0 to 1.")
    psnr: float = Field(description="Mean PSNR of the rung against the source, in dB.")


class VideoStatusBody(Body):
    status: Status
    progress: int = Field(ge=0, le=100, description="Percent done.")
    qualities: dict[str, Quality] = Field(description="State of each rung of the ladder, e.g. `720p`.")
    error: str | None = Field(description="Why the video failed, if it did.")
    playback_url: str | None = Field(description="Signed master playlist URL once completed.")


class VideoDetailsBody(VideoStatusBody):
    video_id: str
    filename: str
    size: int
    visibility: Visibility
    duration_seconds: float | None
    created_at: float = Field(description="Unix seconds.")
    quality: dict[str, RungQuality] = Field(description="Measured quality of each rung, once measured.")
    poster_url: str | None = Field(description="Signed poster image URL, once made.")
    storyboard_url: str | None = Field(description="Signed WebVTT storyboard URL, once made.")


class VideoList(Body):
    videos: list[VideoDetailsBody]


class ChunkProgress(Body):
    status: Literal["success"]
    uploaded_chunks: list[int] = Field(description="Indexes of the chunks stored so far.")
    next_chunk: int | None = Field(description="Lowest index not yet stored; null when all are.")


class ChunkForm(Body):
    """`POST /api/videos/upload`, multipart/form-data (the seed's chunk API)."""

    video_id: str = Field(description="The video the upload token is for.")
    chunk_index: int = Field(ge=0, description="0-based index of this chunk.")
    total_chunks: int = Field(ge=1, description="Chunks in the whole file.")
    checksum: str | None = Field(None, description="Hex SHA-256 of this chunk; 400 if it does not match.")
    chunk: bytes = Field(description="The chunk's bytes.", json_schema_extra={"format": "binary"})


class UploadState(Body):
    uploaded_chunks: list[int]
    next_chunk: int | None
    total_chunks: int | None
    assembled: bool


class Health(Body):
    status: str
    service: str | None = None
    reason: str | None = None
