"""The gateway's request and response bodies: the handlers build them, the OpenAPI document is made of them.

Field names are camelCase on the wire (`videoId`), snake_case in Python.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from vodkit_gateway.videos import Encryption, Quality, Status, Visibility
from vodkit_gateway.webhook_guard import MAX_URL_LENGTH
from vodkit_gateway.webhooks import DeliveryState
from vodkit_shared.events import EVENT_TYPES

VIDEO_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
MAX_UPLOAD = "{max_upload_bytes}"  # in the OpenAPI document: the configured limit, filled in when it is built
ENCRYPTION = (
    "aes-128: every segment encrypted (AES-128, a new key every few segments), the keys served only under "
    "the video's playback token; fixed at creation. It keeps segment URLs and copies of them from playing; "
    "it is not DRM (docs/encryption.md)."
)
DOWNLOADABLE = (
    "Whether whoever may watch it may also download each rendition as an MP4 file (`downloadUrls`, under the "
    "same playback token)."
)


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
    downloadable: bool = Field(False, description=DOWNLOADABLE)
    encryption: Encryption | SkipJsonSchema[None] = Field(
        None,
        description=ENCRYPTION + " Left out: the server's default (VODKIT_DEFAULT_ENCRYPTION).",
        json_schema_extra=lambda schema: _no_default(schema),
    )

    @field_validator("encryption", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null: leave it out for the server's default")
        return value


def _no_default(schema: dict[str, Any]) -> None:
    """An optional field with no value to show: leaving it out is what changes nothing (null is not a value)."""
    schema.pop("default", None)


class UpdateVideo(RequestBody):
    """What the owner may change; at least one of them."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    visibility: Visibility | SkipJsonSchema[None] = Field(
        None, description="Who may watch: the owner, anyone with the link, anyone.", json_schema_extra=_no_default
    )
    downloadable: bool | SkipJsonSchema[None] = Field(None, description=DOWNLOADABLE, json_schema_extra=_no_default)

    @model_validator(mode="after")
    def _something(self) -> UpdateVideo:
        if nulls := sorted(name for name in self.model_fields_set if getattr(self, name) is None):
            raise ValueError(f"{', '.join(nulls)} may not be null: leave a field out to keep it")
        if self.visibility is None and self.downloadable is None:
            raise ValueError("give visibility, downloadable or both")
        return self


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
    playable: bool = Field(
        description="Whether the video plays now: completed, or processing with its early preview playing."
    )
    playback_url: str | None = Field(
        description="Signed master playlist URL: once completed, and while still `processing` as soon as an early "
        "preview plays (a fast rendition as a growing playlist, seconds after the upload; the status stays "
        "`processing` and keeps its progress). A player that started on the preview plays it to the end; a master "
        "fetched after completion lists the full ladder."
    )


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
    downloadable: bool = Field(description=DOWNLOADABLE)
    encryption: Encryption = Field(description=ENCRYPTION)
    download_urls: dict[str, str] | None = Field(
        description="Rung → signed URL of its MP4 file (faststart, served as an attachment), once completed; "
        "null unless `downloadable`."
    )


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


class CreateWebhook(RequestBody):
    url: str = Field(
        min_length=8,
        max_length=MAX_URL_LENGTH,
        pattern=r"^https?://",
        description="Where deliveries are POSTed: http(s), and by default a public address only.",
    )
    events: list[str] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES),
        description="Event types to deliver, e.g. `package.done`, `video.failed` (duplicates count once).",
        json_schema_extra={"items": {"type": "string", "enum": list[JsonValue](sorted(EVENT_TYPES))}},
    )

    @field_validator("events")
    @classmethod
    def _known(cls, events: list[str]) -> list[str]:
        unknown = sorted(set(events) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {sorted(EVENT_TYPES)}")
        return events


class WebhookBody(Body):
    id: str = Field(description="The webhook's id.")
    url: str = Field(description="Where deliveries are POSTed.")
    events: list[str] = Field(description="Event types delivered.")
    created_at: float = Field(description="Unix seconds.")


class CreatedWebhookBody(WebhookBody):
    secret: str = Field(description="Key of the `Vodkit-Signature` HMAC; shown only this once.")


class WebhookList(Body):
    webhooks: list[WebhookBody]


class DeliveryBody(Body):
    id: str = Field(description="The delivery's id (one per webhook and event).")
    event_id: str = Field(description="The envelope's id, sent as `Vodkit-Event-Id` on every attempt.")
    event_type: str = Field(description="e.g. `package.done`.")
    video_id: str
    state: DeliveryState = Field(description="`pending` (to be tried), `sending`, `delivered`, or `failed` for good.")
    attempts: int = Field(ge=0, description="Attempts made so far.")
    last_status: int | None = Field(description="HTTP status of the last answer, if there was one.")
    last_error: str | None = Field(description="Why the last attempt failed, if it did.")
    response_excerpt: str | None = Field(description="The first bytes of the last answer's body.")
    next_attempt_at: float | None = Field(description="When the next attempt is due (Unix seconds), if one is.")
    created_at: float = Field(description="When the delivery was recorded (Unix seconds).")
    delivered_at: float | None = Field(description="When a 2xx answer came (Unix seconds).")


class DeliveryList(Body):
    deliveries: list[DeliveryBody] = Field(description="The newest deliveries first (at most 100).")


# ---- the job console (admin.py) ----------------------------------------------------------------

JobState = Literal["waiting", "running", "failed"]


class JobBody(Body):
    video_id: str
    owner: str = Field(description="User the video belongs to.")
    filename: str
    state: JobState = Field(description="waiting (assembled, no encode yet), running, or failed.")
    progress: int = Field(ge=0, le=100, description="Percent done.")
    failed_stage: str | None = Field(description="Stage that gave up (upload, transcoder, packager), if failed.")
    reason: str | None = Field(description="Why it failed, if it did.")
    attempts: int | None = Field(description="Tries the failed stage made (the transcoder counts them), if known.")
    retries: int = Field(ge=0, description="Times an admin retried it.")
    retryable: bool = Field(description="Whether `POST /api/admin/videos/{videoId}/retry` would take it.")
    created_at: float = Field(description="When the video was created (Unix seconds).")
    updated_at: float = Field(description="When its state last changed (Unix seconds).")


class JobList(Body):
    jobs: list[JobBody]


class RetryBody(Body):
    video_id: str
    status: Status = Field(description="`processing`: the retry is under way.")
    retries: int = Field(ge=1, description="Times an admin retried it, this one included.")


class DeadLetterBody(Body):
    service: str = Field(description="The consumer that gave up on it.")
    event_id: str
    type: str = Field(description="Event type.")
    video_id: str
    occurred_at: str = Field(description="When the event happened (ISO 8601).")
    queue: str = Field(description="The consumer's queue, where a replay puts it back.")
    error: str = Field(description="Why the consumer gave up.")
    attempts: int = Field(ge=1, description="Deliveries it had.")


class DeadLetterList(Body):
    dead_letters: list[DeadLetterBody]


class ReplayBody(Body):
    service: str
    replayed: int = Field(ge=0, description="Dead letters put back on their queues, as first deliveries.")
