"""The analytics port: playback samples in, quality-of-experience figures out.

A sample is one thing a player saw (`Sample.kind`): the `view` (startup time, time to the first
segment), `buffer` (buffer length and watch time, every few seconds while playing), `level` (a
quality started playing), `stall` (a rebuffering, with its duration) or `error`. They are stored
one per document in `video_metrics` (the seed's collection, flat fields the seed's pipelines group
on: `bufferHealth`, `quality`, `bitrate`), and expire after the retention; each complete day is
rolled up per video into `video_metrics_daily` before its samples go (`AnalyticsStore.expire`).

Adapters answer the same `Figures` for the same samples: sums and counts are exact, averages are
rounded (`ROUND`), and percentiles are nearest-rank (`nearest_rank`), written once for both stores.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

Kind = Literal["view", "buffer", "level", "stall", "error"]
KINDS: tuple[Kind, ...] = ("view", "buffer", "level", "stall", "error")
ROUND = 6  # decimals of every average and ratio: both stores add floats in their own order
PERCENTILES = (50, 95)
# upper bounds (seconds, inclusive) of the startup-time histogram; one more bucket holds the rest
STARTUP_BUCKETS: tuple[float, ...] = (0.25, 0.5, 1, 2, 3, 5, 10)
POSITION_BUCKET_S = 10  # buffer health over playback time, in buckets of this many seconds
TOP_VIDEOS = 100  # the fleet-wide list of videos by views is this long at most
DAY_S = 86400


@dataclass(frozen=True)
class Sample:
    """One stored observation; which optional fields are set depends on `kind`."""

    sample_id: str  # `<sessionId>:<batch seq>:<index>`: a batch sent twice is stored once
    video_id: str
    session_id: str
    viewer: str  # `user:<id>` for a signed-in viewer, `anon:<id>` otherwise (unique viewers)
    kind: Kind
    at: float  # Unix seconds, as the player observed it
    position: float | None = None  # playback position, seconds
    buffer_health: float | None = None  # seconds buffered ahead of the position (`buffer`)
    startup: float | None = None  # play request to first frame, seconds (`view`)
    first_segment: float | None = None  # play request to the first segment loaded, seconds (`view`)
    quality: str | None = None  # e.g. `720p` (`buffer`, `level`)
    bitrate: int | None = None  # bits per second of the level playing (`buffer`, `level`)
    height: int | None = None
    switch: bool | None = None  # a `level` that replaced another (not the first one)
    stall: float | None = None  # seconds the stall lasted (`stall`)
    watch: float | None = None  # seconds watched since the previous `buffer` sample
    dropped_frames: int | None = None  # since the previous `buffer` sample
    decoded_frames: int | None = None
    fatal: bool | None = None  # `error`: playback could not go on
    error: str | None = None  # `error`: hls.js's `details`, e.g. `bufferStalledError`

    @property
    def day(self) -> str:
        return day_of(self.at)


@dataclass(frozen=True)
class Scope:
    """Which samples a report reads: UTC days `first`..`last` inclusive, one video or all."""

    first: dt.date
    last: dt.date
    video_id: str | None = None

    @property
    def start(self) -> float:
        return day_start(self.first)

    @property
    def end(self) -> float:
        return day_start(self.last) + DAY_S


@dataclass
class Figures:
    """What happened in a scope (or one day of it): counts and sums, and what is derived from them."""

    views: int = 0
    unique_viewers: int = 0
    watch_seconds: float = 0.0
    stall_count: int = 0
    stall_seconds: float = 0.0
    errors: int = 0
    fatal_errors: int = 0
    level_switches: int = 0
    dropped_frames: int = 0
    decoded_frames: int = 0
    avg_buffer_health: float | None = None
    startup_p50: float | None = None
    startup_p95: float | None = None
    first_segment_p50: float | None = None
    rebuffering_ratio: float | None = None  # stall seconds over watch seconds
    errors_per_view: float | None = None

    def derive(self) -> Figures:
        self.watch_seconds = round(self.watch_seconds, ROUND)
        self.stall_seconds = round(self.stall_seconds, ROUND)
        if self.avg_buffer_health is not None:
            self.avg_buffer_health = round(self.avg_buffer_health, ROUND)
        self.rebuffering_ratio = round(self.stall_seconds / self.watch_seconds, ROUND) if self.watch_seconds else None
        self.errors_per_view = round(self.errors / self.views, ROUND) if self.views else None
        return self


@dataclass
class DayFigures:
    day: str  # YYYY-MM-DD, UTC
    figures: Figures
    source: Literal["samples", "rollup"] = "samples"  # rollups keep no percentiles nor buffer health


@dataclass
class QualityFigures:
    quality: str
    plays: int  # times this quality started playing (first level and switches to it)
    avg_bitrate: float | None  # over those starts, bits per second
    watch_seconds: float  # watched at this quality (from `buffer` samples)
    height: int | None = None


@dataclass
class PositionBucket:
    position: int  # start of the bucket, seconds into the video
    avg_buffer_health: float
    samples: int


@dataclass
class HistogramBucket:
    le: float | None  # upper bound (inclusive); None: above the last bound
    count: int


@dataclass
class VideoBufferHealth:
    """The seed's "buffer health analysis", one row per video."""

    video_id: str
    avg_buffer_health: float | None
    total_views: int


@dataclass
class Report:
    scope: Scope
    summary: Figures
    days: list[DayFigures]
    qualities: list[QualityFigures]
    buffer_by_position: list[PositionBucket]
    startup_histogram: list[HistogramBucket]
    videos: list[VideoBufferHealth]


class AnalyticsStore(ABC):
    """Samples and their daily rollups, in the metadata store's database."""

    @abstractmethod
    async def record(self, samples: list[Sample]) -> int:
        """Store samples; one whose `sample_id` is stored already is skipped. Returns how many were new."""

    @abstractmethod
    async def figures(self, scope: Scope) -> Figures:
        """The scope's figures from its samples (not yet `derive`d)."""

    @abstractmethod
    async def figures_by_day(self, scope: Scope) -> dict[str, Figures]:
        """The same, per UTC day that has samples."""

    @abstractmethod
    async def qualities(self, scope: Scope) -> list[QualityFigures]:
        """Plays, average bitrate and watch time per quality, highest bitrate first."""

    @abstractmethod
    async def buffer_by_position(self, scope: Scope, bucket_s: int) -> list[PositionBucket]:
        """Average buffer health by playback position, in buckets of `bucket_s` seconds, in order."""

    @abstractmethod
    async def startup_histogram(self, scope: Scope, bounds: tuple[float, ...]) -> list[HistogramBucket]:
        """Views by startup time: one bucket per bound (startup <= bound), then the rest."""

    @abstractmethod
    async def buffer_health_per_video(self, scope: Scope, limit: int) -> list[VideoBufferHealth]:
        """The seed's first pipeline: average buffer health and views per video, most viewed first."""

    @abstractmethod
    async def roll_up(self, days: Iterable[str]) -> int:
        """Write (replace) the daily rollup of every video with samples on each of `days`; returns rows written."""

    @abstractmethod
    async def rollups(self, scope: Scope) -> dict[str, Figures]:
        """Rolled-up figures per day, summed over the scope's videos (percentiles and buffer health stay None)."""

    @abstractmethod
    async def days_before(self, cutoff: float) -> list[str]:
        """The days that have samples older than `cutoff`."""

    @abstractmethod
    async def delete_before(self, cutoff: float) -> int:
        """Delete the samples older than `cutoff`; returns how many went."""

    @abstractmethod
    async def close(self) -> None:
        """Release the connection."""

    async def report(self, scope: Scope) -> Report:
        """Everything the analytics API answers, for one scope."""
        by_day = await self.figures_by_day(scope)
        days = [DayFigures(day, figures.derive()) for day, figures in sorted(by_day.items())]
        for day, figures in (await self.rollups(scope)).items():
            if day not in by_day:  # samples gone: the day's rollup stands in
                days.append(DayFigures(day, figures.derive(), "rollup"))
        return Report(
            scope=scope,
            summary=(await self.figures(scope)).derive(),
            days=sorted(days, key=lambda d: d.day),
            qualities=await self.qualities(scope),
            buffer_by_position=await self.buffer_by_position(scope, POSITION_BUCKET_S),
            startup_histogram=await self.startup_histogram(scope, STARTUP_BUCKETS),
            videos=await self.buffer_health_per_video(scope, TOP_VIDEOS),
        )

    async def expire(self, retention_s: float, now: float) -> int:
        """Roll up, then delete, the samples of every whole day older than the retention; returns samples deleted.

        Whole days only, so a day's rollup is made once, from all its samples. The API refuses samples
        older than a day, so a day is final once the next one is over: retention is at least two days.
        """
        cutoff = day_start(dt.date.fromisoformat(day_of(now - retention_s)))
        expiring = await self.days_before(cutoff)
        await self.roll_up(expiring)
        return await self.delete_before(cutoff)

    async def roll_up_recent(self, now: float) -> int:
        """Roll up yesterday and the day before (late samples may still come for them)."""
        return await self.roll_up([day_of(now - DAY_S), day_of(now - 2 * DAY_S)])


def nearest_rank(percentile: int, count: int) -> int:
    """The 1-based rank of the `percentile`th of `count` sorted values: ceil(p·n/100), in integers.

    Both stores pick the value at this rank (MongoDB: `$ceil` of an exact integer division).
    """
    return max(1, -(-percentile * count // 100))


def day_of(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).date().isoformat()


def day_start(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def document_of(sample: Sample) -> dict[str, Any]:
    """A sample as `video_metrics` stores it: camelCase, with its UTC `day`, unset fields left out."""
    fields = {_camel(name): value for name, value in asdict(sample).items() if value is not None}
    fields.pop("sampleId")
    return {**fields, "day": sample.day}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, ROUND)


def by_quality(q: QualityFigures) -> tuple[int, str]:
    """The order qualities are listed in: tallest first, then by name."""
    return -(q.height or 0), q.quality
