"""The analytics contract: the same samples give the same figures on SQLite and MongoDB.

MongoDB runs when VODKIT_TEST_MONGODB_URL is set (as for the metadata contract); every expected
figure below is worked out by hand from the samples, so each store is held to the same answers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support import MONGODB_URL
from vodkit_shared.analytics import (
    AnalyticsStore,
    Figures,
    HistogramBucket,
    PositionBucket,
    QualityFigures,
    Sample,
    Scope,
    VideoBufferHealth,
    nearest_rank,
    open_analytics,
)

pytestmark = pytest.mark.contract

D1, D2 = dt.date(2026, 1, 5), dt.date(2026, 1, 6)
A, B = "0f8fad5b-d9cb-469f-a165-70867728950e", "7c9e6679-7425-40de-944b-e07fc1f90ae7"
_T1 = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC).timestamp()
_T2 = dt.datetime(2026, 1, 6, 8, tzinfo=dt.UTC).timestamp()


@pytest.fixture(params=["sqlite", "mongodb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AnalyticsStore]:
    if request.param == "mongodb":
        if not MONGODB_URL:
            pytest.skip("MongoDB: set VODKIT_TEST_MONGODB_URL=mongodb://host:port to run these")
        url = f"{MONGODB_URL.rstrip('/')}/vodkit_test_{uuid.uuid4().hex[:8]}"
    else:
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    opened = await open_analytics(url)
    yield opened
    await opened.close()


def _session(video: str, session: str, viewer: str, start: float, *events: dict[str, object]) -> list[Sample]:
    """A session's samples, `at` a second apart from `start`."""
    return [
        Sample(  # type: ignore[arg-type]
            sample_id=f"{session}:0:{i}", video_id=video, session_id=session, viewer=viewer, at=start + i, **event
        )
        for i, event in enumerate(events)
    ]


SAMPLES = [
    *_session(
        A, "s1", "user:alice", _T1,
        {"kind": "view", "startup": 0.5, "first_segment": 0.25},
        {"kind": "level", "quality": "720p", "bitrate": 2_000_000, "height": 720, "switch": False},
        {"kind": "buffer", "position": 2.0, "buffer_health": 10.0, "quality": "720p", "bitrate": 2_000_000,
         "height": 720, "watch": 2.0, "dropped_frames": 1, "decoded_frames": 60},
        {"kind": "buffer", "position": 12.0, "buffer_health": 6.0, "quality": "720p", "watch": 10.0},
        {"kind": "stall", "position": 13.0, "stall": 1.5},
        {"kind": "level", "quality": "480p", "bitrate": 1_000_000, "height": 480, "switch": True},
        {"kind": "buffer", "position": 15.0, "buffer_health": 2.0, "quality": "480p", "bitrate": 1_000_000,
         "height": 480, "watch": 3.0},
        {"kind": "error", "fatal": False, "error": "bufferStalledError"},
    ),
    *_session(
        A, "s2", "anon:x", _T1 + 3600,
        {"kind": "view", "startup": 1.5},
        {"kind": "level", "quality": "480p", "bitrate": 1_000_000, "height": 480, "switch": False},
        {"kind": "buffer", "position": 4.0, "buffer_health": 8.0, "quality": "480p", "watch": 4.0},
        {"kind": "error", "fatal": True, "error": "manifestLoadError"},
    ),
    *_session(
        A, "s3", "user:alice", _T2,
        {"kind": "view", "startup": 3.0, "first_segment": 1.0},
        {"kind": "buffer", "position": 1.0, "buffer_health": 4.0, "quality": "1080p", "bitrate": 5_000_000,
         "height": 1080, "watch": 1.0},
        {"kind": "level", "quality": "1080p", "bitrate": 5_000_000, "height": 1080, "switch": False},
    ),
    *_session(
        B, "s4", "anon:y", _T2,
        {"kind": "view", "startup": 12.0},
        {"kind": "buffer", "position": 0.5, "buffer_health": 1.0, "watch": 0.5},
    ),
]  # fmt: skip


def _figures(**given: object) -> Figures:
    return replace(Figures(), **given).derive()  # type: ignore[arg-type]


A_SUMMARY = _figures(
    views=3, unique_viewers=2, watch_seconds=20.0, stall_count=1, stall_seconds=1.5, errors=2, fatal_errors=1,
    level_switches=1, dropped_frames=1, decoded_frames=60, avg_buffer_health=6.0, startup_p50=1.5, startup_p95=3.0,
    first_segment_p50=0.25,
)  # fmt: skip


async def test_one_videos_figures(store: AnalyticsStore) -> None:
    await store.record(SAMPLES)
    report = await store.report(Scope(D1, D2, A))
    assert report.summary == A_SUMMARY
    assert report.summary.rebuffering_ratio == 0.075
    assert report.summary.errors_per_view == 0.666667
    assert [(d.day, d.source, d.figures) for d in report.days] == [
        ("2026-01-05", "samples", _figures(
            views=2, unique_viewers=2, watch_seconds=19.0, stall_count=1, stall_seconds=1.5, errors=2,
            fatal_errors=1, level_switches=1, dropped_frames=1, decoded_frames=60, avg_buffer_health=6.5,
            startup_p50=0.5, startup_p95=1.5, first_segment_p50=0.25,
        )),
        ("2026-01-06", "samples", _figures(
            views=1, unique_viewers=1, watch_seconds=1.0, avg_buffer_health=4.0, startup_p50=3.0, startup_p95=3.0,
            first_segment_p50=1.0,
        )),
    ]  # fmt: skip
    assert report.days[0].figures.rebuffering_ratio == 0.078947
    assert report.qualities == [
        QualityFigures("1080p", 1, 5_000_000.0, 1.0, 1080),
        QualityFigures("720p", 1, 2_000_000.0, 12.0, 720),
        QualityFigures("480p", 2, 1_000_000.0, 7.0, 480),
    ]
    assert report.buffer_by_position == [PositionBucket(0, 7.333333, 3), PositionBucket(10, 4.0, 2)]
    assert [b.count for b in report.startup_histogram] == [0, 1, 0, 1, 1, 0, 0, 0]
    assert report.startup_histogram[1] == HistogramBucket(0.5, 1)  # a value on a bound is in its bucket
    assert report.startup_histogram[-1].le is None
    assert report.videos == [VideoBufferHealth(A, 6.0, 3)]


async def test_fleet_wide_figures(store: AnalyticsStore) -> None:
    await store.record(SAMPLES)
    report = await store.report(Scope(D1, D2))
    assert (report.summary.views, report.summary.unique_viewers, report.summary.watch_seconds) == (4, 3, 20.5)
    assert (report.summary.startup_p50, report.summary.startup_p95) == (1.5, 12.0)
    assert report.summary.avg_buffer_health == 5.166667  # (10 + 6 + 2 + 8 + 4 + 1) / 6
    assert [b.count for b in report.startup_histogram] == [0, 1, 0, 1, 1, 0, 0, 1]
    assert report.videos == [VideoBufferHealth(A, 6.0, 3), VideoBufferHealth(B, 1.0, 1)]
    assert [q.quality for q in report.qualities] == ["1080p", "720p", "480p"]


async def test_a_range_reads_only_its_days(store: AnalyticsStore) -> None:
    await store.record(SAMPLES)
    report = await store.report(Scope(D2, D2, A))
    assert report.summary.views == 1
    assert [d.day for d in report.days] == ["2026-01-06"]
    empty = await store.report(Scope(dt.date(2025, 1, 1), dt.date(2025, 1, 2), A))
    assert empty.summary == Figures().derive()
    assert (empty.days, empty.qualities, empty.buffer_by_position, empty.videos) == ([], [], [], [])
    assert [b.count for b in empty.startup_histogram] == [0] * 8


async def test_a_sample_stored_twice_counts_once(store: AnalyticsStore) -> None:
    assert await store.record(SAMPLES) == len(SAMPLES)
    assert await store.record(SAMPLES[:5]) == 0
    assert (await store.report(Scope(D1, D2, A))).summary == A_SUMMARY


async def test_expiry_rolls_a_day_up_before_its_samples_go(store: AnalyticsStore) -> None:
    await store.record(SAMPLES)
    now = dt.datetime(2026, 1, 8, 12, tzinfo=dt.UTC).timestamp()  # 2 days back is Jan 6: Jan 5 goes
    deleted = await store.expire(2 * 86400, now)
    assert deleted == 12  # sessions s1 and s2
    report = await store.report(Scope(D1, D2, A))
    assert report.summary.views == 1  # the summary is made of samples
    rolled, kept = report.days
    assert (rolled.day, rolled.source, kept.day, kept.source) == ("2026-01-05", "rollup", "2026-01-06", "samples")
    assert rolled.figures == _figures(
        views=2, unique_viewers=2, watch_seconds=19.0, stall_count=1, stall_seconds=1.5, errors=2, fatal_errors=1,
        level_switches=1, dropped_frames=1, decoded_frames=60,
    )  # fmt: skip
    assert await store.expire(2 * 86400, now) == 0
    fleet = await store.report(Scope(D1, D2))
    assert [d.figures.views for d in fleet.days] == [2, 2]


async def test_a_rollup_is_replaced_not_added_to(store: AnalyticsStore) -> None:
    await store.record(SAMPLES)
    assert await store.roll_up(["2026-01-06"]) == 2  # videos A and B
    assert await store.roll_up(["2026-01-06"]) == 2
    assert (await store.rollups(Scope(D2, D2)))["2026-01-06"].views == 2


@pytest.mark.parametrize(
    ("percentile", "count", "rank"),
    [(50, 1, 1), (50, 2, 1), (50, 3, 2), (50, 4, 2), (95, 19, 19), (95, 20, 19), (95, 21, 20), (95, 100, 95),
     (100, 7, 7), (0, 5, 1)],
)  # fmt: skip
def test_nearest_rank(percentile: int, count: int, rank: int) -> None:
    assert nearest_rank(percentile, count) == rank


async def test_percentiles_of_known_values(store: AnalyticsStore) -> None:
    """1..20 seconds: the median is the 10th value, the 95th percentile the 19th (nearest rank)."""
    samples = [
        Sample(f"p{i}:0:0", A, f"p{i}", f"anon:{i}", "view", _T1 + i, startup=float(i)) for i in range(20, 0, -1)
    ]
    await store.record(samples)
    summary = (await store.report(Scope(D1, D1, A))).summary
    assert (summary.startup_p50, summary.startup_p95, summary.views, summary.unique_viewers) == (10.0, 19.0, 20, 20)
