"""What players send to `POST /api/playback-events`, and what the analytics API answers.

A batch names its video and session and carries up to `MAX_EVENTS` events, each with its own
time (`at`, Unix seconds) and a `type`. Every number is bounded and no field outside these is
taken; times must lie within the last day (`MAX_AGE_S`) and at most `MAX_SKEW_S` ahead of the
gateway's clock, which `analytics_api` checks (the schema alone cannot: it says nothing of now).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from vodkit_gateway.schemas import VIDEO_ID_PATTERN, Body, JsonInteger, RequestBody
from vodkit_shared.rungs import RUNG_PATTERN

MAX_EVENTS = 50  # a player sends every few seconds: ~1 sample a second fits with room to spare
MAX_AGE_S = 86400
MAX_SKEW_S = 300
ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
DETAIL_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
_EPOCH_2000, _EPOCH_2100 = 946684800, 4102444800
MAX_POSITION_S = 7 * 86400

At = Annotated[float, Field(ge=_EPOCH_2000, le=_EPOCH_2100, description="When the player saw it (Unix seconds).")]
Position = Annotated[float, Field(ge=0, le=MAX_POSITION_S, description="Playback position, seconds.")]
Quality = Annotated[str, Field(pattern=f"^{RUNG_PATTERN}$", description="The level playing, e.g. `720p`.")]
Bitrate = Annotated[JsonInteger, Field(ge=0, le=10**9, description="The level's bitrate, bits per second.")]
Height = Annotated[JsonInteger, Field(ge=0, le=8640, description="The level's height, pixels.")]
Frames = Annotated[JsonInteger, Field(ge=0, le=10**6)]


class ViewEvent(RequestBody):
    """The session's start: once the first frame shows."""

    type: Literal["view"]
    at: At
    startup: float = Field(ge=0, le=600, description="Seconds from the play request to the first frame.")
    first_segment: float | None = Field(
        None, ge=0, le=600, description="Seconds from the play request to the first media segment loaded."
    )


class BufferEvent(RequestBody):
    """Buffer health, sampled every few seconds while playing, with what was watched since the last sample."""

    type: Literal["buffer"]
    at: At
    position: Position
    buffer_health: float = Field(ge=0, le=3600, description="Seconds buffered ahead of the position.")
    quality: Quality | None = None
    bitrate: Bitrate | None = None
    height: Height | None = None
    watch: float = Field(0, ge=0, le=600, description="Seconds watched (playing) since the previous sample.")
    dropped_frames: Frames | None = Field(None, description="Frames dropped since the previous sample.")
    decoded_frames: Frames | None = Field(None, description="Frames decoded since the previous sample.")


class LevelEvent(RequestBody):
    """A quality started playing: the first one, or a switch."""

    type: Literal["level"]
    at: At
    quality: Quality
    bitrate: Bitrate
    height: Height
    switch: bool = Field(description="False for the session's first level, true for a switch.")


class StallEvent(RequestBody):
    """Playback stopped for want of data (a rebuffering), and started again or the session ended."""

    type: Literal["stall"]
    at: At
    position: Position
    duration: float = Field(ge=0, le=3600, description="Seconds the stall lasted.")


class ErrorEvent(RequestBody):
    """An hls.js error."""

    type: Literal["error"]
    at: At
    fatal: bool = Field(description="Whether playback could not go on.")
    details: str = Field(pattern=DETAIL_PATTERN, description="hls.js's `details`, e.g. `bufferStalledError`.")


PlaybackEvent = Annotated[ViewEvent | BufferEvent | LevelEvent | StallEvent | ErrorEvent, Field(discriminator="type")]

EXAMPLE: dict[str, Any] = {
    "videoId": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "sessionId": "4c0e2b1e-7d4e-4c55-9f6e-2a1b3c4d5e6f",
    "viewerId": "b3a1c2d4-0e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "seq": 0,
    "events": [
        {"type": "view", "at": 1764680000.0, "startup": 0.84, "firstSegment": 0.41},
        {"type": "level", "at": 1764680000.1, "quality": "720p", "bitrate": 2800000, "height": 720, "switch": False},
        {
            "type": "buffer",
            "at": 1764680005.0,
            "position": 4.9,
            "bufferHealth": 18.2,
            "quality": "720p",
            "bitrate": 2800000,
            "height": 720,
            "watch": 4.9,
            "droppedFrames": 0,
            "decodedFrames": 147,
        },
        {"type": "stall", "at": 1764680009.0, "position": 8.7, "duration": 1.2},
        {"type": "error", "at": 1764680009.0, "fatal": False, "details": "bufferStalledError"},
    ],
}


class PlaybackBatch(RequestBody):
    """What a player saw since its last batch. `?token=` is the video's playback token."""

    video_id: str = Field(pattern=VIDEO_ID_PATTERN, description="The video watched: the token's.")
    session_id: str = Field(pattern=ID_PATTERN, description="One playback session (a random id per play).")
    viewer_id: str = Field(
        pattern=ID_PATTERN, description="A random id the player keeps (unique viewers when not signed in)."
    )
    seq: JsonInteger = Field(
        ge=0, le=100_000, description="The batch's number in its session: a batch sent again is stored once."
    )
    events: list[PlaybackEvent] = Field(min_length=1, max_length=MAX_EVENTS)

    model_config = RequestBody.model_config | {"json_schema_extra": {"examples": [EXAMPLE]}}


class AcceptedBatch(Body):
    accepted: int = Field(ge=0, description="Events stored.")


# ---- answers of the analytics API -------------------------------------------------------------


class FiguresBody(Body):
    views: int = Field(description="Sessions that showed a first frame.")
    unique_viewers: int = Field(description="Distinct viewers of those views (users, or anonymous player ids).")
    watch_seconds: float = Field(description="Seconds played.")
    stall_count: int = Field(description="Rebufferings.")
    stall_seconds: float = Field(description="Seconds spent rebuffering.")
    rebuffering_ratio: float | None = Field(description="Stall seconds over watch seconds; null without watch time.")
    startup_p50: float | None = Field(description="Median startup time, seconds (nearest rank).")
    startup_p95: float | None = Field(description="95th percentile startup time, seconds (nearest rank).")
    first_segment_p50: float | None = Field(description="Median time to the first segment, seconds.")
    avg_buffer_health: float | None = Field(description="Mean seconds buffered ahead, over buffer samples.")
    errors: int
    fatal_errors: int
    errors_per_view: float | None
    level_switches: int
    dropped_frames: int
    decoded_frames: int


class DayBody(FiguresBody):
    day: str = Field(description="UTC day, YYYY-MM-DD.")
    source: Literal["samples", "rollup"] = Field(
        description="`rollup`: the samples expired; the daily rollup keeps no percentiles nor buffer health."
    )


class QualityBody(Body):
    quality: str = Field(description="e.g. `720p`.")
    height: int | None
    plays: int = Field(description="Times this quality started playing (first level or a switch to it).")
    avg_bitrate: float | None = Field(description="Mean bitrate of those plays, bits per second.")
    watch_seconds: float = Field(description="Seconds watched at this quality.")


class PositionBody(Body):
    position: int = Field(description="Start of the bucket, seconds into the video.")
    avg_buffer_health: float = Field(description="Mean seconds buffered ahead in the bucket.")
    samples: int


class BufferByPositionBody(Body):
    bucket_seconds: int
    buckets: list[PositionBody]


class HistogramBucketBody(Body):
    le: float | None = Field(description="Upper bound in seconds (inclusive); null: above the last bound.")
    count: int


class VideoBufferHealthBody(Body):
    video_id: str
    avg_buffer_health: float | None
    total_views: int


class FunnelBody(Body):
    created: int = Field(description="Videos created in the range.")
    uploaded: int = Field(description="Of those, uploads that completed (processing, completed, or failed later on).")
    completed: int
    failed: int = Field(description="Failed at any stage, the upload's included.")
    processing: int
    uploading: int


class AnalyticsBody(Body):
    """Figures of one video (`GET /api/videos/{videoId}/analytics`) or the fleet (`GET /api/analytics`)."""

    video_id: str | None = Field(description="The video; null fleet-wide.")
    from_: str = Field(alias="from", description="First UTC day, YYYY-MM-DD.")
    to: str = Field(description="Last UTC day (inclusive).")
    summary: FiguresBody
    days: list[DayBody] = Field(description="Per UTC day that had playback, oldest first.")
    qualities: list[QualityBody] = Field(description="The seed's playback quality: plays and mean bitrate per quality.")
    buffer_by_position: BufferByPositionBody = Field(description="Buffer health over playback time.")
    startup_histogram: list[HistogramBucketBody] = Field(description="Views by startup time.")
    videos: list[VideoBufferHealthBody] = Field(
        description="The seed's buffer health analysis: per video, most viewed first (at most 100)."
    )
    funnel: FunnelBody | None = Field(
        None, description="Fleet-wide only: the processing funnel of videos created in the range."
    )
