"""The one envelope every event travels in, and the typed payload of each event.

Payload classes are past-tense facts. `Envelope.wrap` puts a payload in an envelope;
`Envelope.payload` takes it out again, validated.
"""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from vodkit_shared.redaction import without_locations

_ID_NAMESPACE = uuid.UUID("6f1c0b5e-2a51-4c8e-9a55-0d7c1f6b9e21")


class _Wire(BaseModel):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class Event(_Wire):
    """Base of every payload; `TYPE` is the routing key."""

    TYPE: ClassVar[str]


E = TypeVar("E", bound=Event)


class ChunkReceived(Event):
    """A chunk of an upload is stored (upload service)."""

    TYPE: ClassVar[str] = "chunk.received"
    chunk_index: int = Field(description="0-based index of the stored chunk.")
    total_chunks: int = Field(description="How many chunks the whole upload has.")
    size: int = Field(description="Bytes in this chunk.")
    key: str = Field(description="Storage key the chunk was written to.")


class VideoAssembled(Event):
    """Every chunk is in: the original is assembled and verified (upload service)."""

    TYPE: ClassVar[str] = "video.assembled"
    source_key: str = Field(description="Storage key of the assembled original.")
    size: int = Field(description="Bytes in the original.")
    sha256: str | None = Field(None, description="Hex SHA-256 of the original.")


class TranscodeProgress(Event):
    """How far the transcode is, at its start and then at most once a second (transcoder)."""

    TYPE: ClassVar[str] = "transcode.progress"
    percent: float = Field(ge=0, le=100, description="Share of the source transcoded so far.")
    ladder: list[str] = Field(description="Rungs this source is transcoded to, e.g. ['720p', '480p'].")


class RenditionReady(Event):
    """One rung of the ladder is encoded and stored (transcoder)."""

    TYPE: ClassVar[str] = "rendition.ready"
    rung: str = Field(description="Rung name, e.g. '720p'; 'audio', the one rung of a source with no picture.")
    key: str = Field(description="Storage key of the rendition's MP4.")
    width: int = Field(description="Frame width in pixels (0 for audio alone).")
    height: int = Field(description="Frame height in pixels (0 for audio alone).")
    ladder: list[str] = Field(description="Every rung of this video, so the packager knows when it is whole.")
    segment_seconds: int = Field(description="Target HLS segment length; keyframes are aligned to it.")
    duration_seconds: float = Field(description="Duration of the source.")


class RenditionMeasured(Event):
    """A rung's quality against its source is measured (transcoder)."""

    TYPE: ClassVar[str] = "rendition.measured"
    rung: str = Field(description="Rung name, e.g. '720p'.")
    ssim: float = Field(description="Mean SSIM (all planes) against the source scaled to the rung; 1 is identical.")
    psnr: float = Field(description="Mean PSNR in dB against the source scaled to the rung (capped at 100).")


class ArtworkReady(Event):
    """The poster and the storyboard are stored (transcoder)."""

    TYPE: ClassVar[str] = "artwork.ready"
    poster_key: str = Field(description="Storage key of the poster JPEG.")
    storyboard_key: str = Field(description="Storage key of the storyboard's WebVTT index (sprites beside it).")


class VideoPlayable(Event):
    """The video can be watched at its playback URL (transcoder for an early preview, packager for the ladder).

    A long enough source becomes playable seconds after assembly, at a fast preview rendition written
    as a growing HLS playlist while the ladder encodes (`stage` "preview"); it stays `processing`
    until `package.done`, when the master becomes the full ladder (`stage` "ladder"). A video
    without a preview has only the second.
    """

    TYPE: ClassVar[str] = "video.playable"
    stage: Literal["preview", "ladder"] = Field(
        description="preview: one fast rendition in a growing playlist while the ladder encodes; ladder: the ladder."
    )
    master_key: str = Field(description="Storage key of the master playlist a new viewer gets now.")
    renditions: list[str] = Field(description="What that master lists: ['preview'], or the ladder's rungs.")


class PackageDone(Event):
    """The video's HLS is written, master playlist last: it can be played (packager)."""

    TYPE: ClassVar[str] = "package.done"
    master_key: str = Field(description="Storage key of the master playlist.")
    prefix: str = Field(description="Storage prefix holding every HLS object of the video.")
    renditions: list[str] = Field(description="Rungs listed in the master playlist.")
    duration_seconds: float = Field(description="Duration of the video.")


class SubtitlesAdded(Event):
    """The owner added (or replaced) a subtitle track of a video, validated and converted to WebVTT (gateway)."""

    TYPE: ClassVar[str] = "subtitles.added"
    language: str = Field(description="BCP 47 language tag of the track, e.g. 'en' or 'pt-BR'; one track per language.")
    label: str = Field(description="Name players show for the track, e.g. 'English'.")
    default: bool = Field(description="Whether the owner made it the video's default track (it replaces the last).")
    revision: int = Field(ge=1, description="The video's subtitle revision: a change of a lower one is stale.")
    cues: int = Field(ge=1, description="Cues in the track.")
    webvtt: str = Field(description="The whole track as WebVTT (an SRT upload converted), at most 512 KiB by default.")


class SubtitlesRemoved(Event):
    """The owner removed a video's subtitle track (gateway)."""

    TYPE: ClassVar[str] = "subtitles.removed"
    language: str = Field(description="BCP 47 language tag of the track removed.")
    revision: int = Field(ge=1, description="The video's subtitle revision: a change of a lower one is stale.")


class PublishedSubtitles(_Wire):
    """One subtitle track as the master playlist lists it."""

    language: str = Field(description="BCP 47 language tag.")
    label: str = Field(description="Name players show.")
    default: bool = Field(description="Listed with DEFAULT=YES.")
    revision: int = Field(description="The subtitle revision of the track published.")


class SubtitlesPublished(Event):
    """The video's master playlist lists exactly these subtitle tracks, each segmented as HLS WebVTT (packager)."""

    TYPE: ClassVar[str] = "subtitles.published"
    master_key: str = Field(description="Storage key of the master playlist that changed.")
    tracks: list[PublishedSubtitles] = Field(description="Every subtitle track the master lists now.")


class VideoFailed(Event):
    """A stage gave up on the video; it ends `failed` (any stage)."""

    TYPE: ClassVar[str] = "video.failed"
    stage: str = Field(description="Service that gave up: upload, transcoder or packager.")
    reason: str = Field(description="Readable reason, shown to the uploader; never a server path or URL.")
    attempts: int | None = Field(
        None, ge=1, description="Tries the stage made before it gave up, where it counts them."
    )

    @field_validator("reason")
    @classmethod
    def _without_locations(cls, reason: str) -> str:
        """Every publisher's reason passes here, so none shows where things live on a server."""
        return without_locations(reason)


class VideoRetried(Event):
    """An admin retried a failed video: a new run starts, its events under this envelope's correlation id (gateway)."""

    TYPE: ClassVar[str] = "video.retried"
    failed_stage: str = Field(description="Stage the video had failed at (transcoder or packager): where it resumes.")
    by: str = Field(description="Admin who asked for the retry.")


class VideoDeleted(Event):
    """The owner deleted the video; its objects are gone (gateway)."""

    TYPE: ClassVar[str] = "video.deleted"
    owner: str = Field(description="User the video belonged to.")
    prefixes: list[str] = Field(description="Storage prefixes whose objects were removed, e.g. `hls/{videoId}/`.")


class ObjectTiered(Event):
    """Some of a video's objects moved to another storage tier (storage-tiering)."""

    TYPE: ClassVar[str] = "object.tiered"
    source_tier: str = Field(description="Tier the objects left: hot, warm or cold.")
    destination_tier: str = Field(description="Tier the objects are in now.")
    keys: list[str] = Field(description="Storage keys moved, all of this video.")
    bytes: int = Field(description="Bytes moved.")


class CdnPurged(Event):
    """Cache nodes purged the paths an event made stale (cdn-purge)."""

    TYPE: ClassVar[str] = "cdn.purged"
    paths: list[str] = Field(description="Public paths purged; a path ending in '/' purges all below it.")
    nodes: int = Field(description="Cache nodes that confirmed the purge.")
    cause: str = Field(description="Type of the event that made them stale, e.g. package.done.")


EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        ArtworkReady,
        ChunkReceived,
        VideoAssembled,
        TranscodeProgress,
        RenditionReady,
        RenditionMeasured,
        VideoPlayable,
        PackageDone,
        SubtitlesAdded,
        SubtitlesRemoved,
        SubtitlesPublished,
        VideoFailed,
        VideoRetried,
        VideoDeleted,
        ObjectTiered,
        CdnPurged,
    )
}


_RETRY = ":retry-"


def retry_correlation(video_id: str, run: int) -> str:
    """The correlation id of a video's `run`th retry: each retry is a run of its own (run 0 is the upload's)."""
    return f"{video_id}{_RETRY}{run}" if run else video_id


def run_of(correlation_id: str) -> int:
    """Which run of its video an event belongs to: 0 for the upload's, n for the nth retry's."""
    _, marker, number = correlation_id.rpartition(_RETRY)
    return int(number) if marker and number.isdigit() else 0


def stable_event_id(event_type: str, video_id: str, *parts: str) -> uuid.UUID:
    """An id fixed by what the event is about, so a re-run publishes a duplicate consumers drop."""
    return uuid.uuid5(_ID_NAMESPACE, ":".join((event_type, video_id, *parts)))


class Envelope(_Wire):
    id: uuid.UUID = Field(description="Unique id; the consumers' idempotency key.")
    type: str = Field(description="Event type and routing key, e.g. 'video.assembled'.")
    version: int = Field(1, description="Payload schema version.")
    occurred_at: datetime = Field(description="When the fact happened (UTC).")
    video_id: str = Field(description="Video the event is about.")
    correlation_id: str = Field(description="Ties together every event caused by one upload.")
    data: dict[str, Any] = Field(description="The typed payload, as JSON.")

    @classmethod
    def wrap(
        cls,
        payload: Event,
        *,
        video_id: str,
        correlation_id: str | None = None,
        event_id: uuid.UUID | None = None,
    ) -> Envelope:
        return cls(
            id=event_id or uuid.uuid4(),
            type=payload.TYPE,
            occurred_at=datetime.now(UTC),
            video_id=video_id,
            correlation_id=correlation_id or video_id,
            data=payload.model_dump(mode="json", by_alias=True),
        )

    def payload(self, model: builtins.type[E]) -> E:
        if self.type != model.TYPE:
            raise ValueError(f"envelope holds {self.type}, not {model.TYPE}")
        return model.model_validate(self.data)

    def follow(self, payload: Event, event_id: uuid.UUID | None = None) -> Envelope:
        """An event caused by this one: same video, same correlation id."""
        return Envelope.wrap(payload, video_id=self.video_id, correlation_id=self.correlation_id, event_id=event_id)

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()

    @classmethod
    def from_json(cls, body: bytes) -> Envelope:
        return cls.model_validate_json(body)
