"""SQLite adapter: `video_metrics` as a table with a column per sample field, `video_metrics_daily` beside it.

Its own connection to the metadata store's file (WAL lets both write), used from one worker thread,
so no query runs on the event loop. Percentiles are window functions: the value whose row number is
the nearest rank (`port.nearest_rank`, the same integer formula in SQL).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from vodkit_shared.analytics.port import (
    PERCENTILES,
    ROUND,
    AnalyticsStore,
    Figures,
    HistogramBucket,
    PositionBucket,
    QualityFigures,
    Sample,
    Scope,
    VideoBufferHealth,
    by_quality,
    nearest_rank,
    rounded,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS video_metrics (
    sample_id TEXT PRIMARY KEY, video_id TEXT NOT NULL, session_id TEXT NOT NULL, viewer TEXT NOT NULL,
    kind TEXT NOT NULL, at REAL NOT NULL, day TEXT NOT NULL, position REAL, buffer_health REAL, startup REAL,
    first_segment REAL, quality TEXT, bitrate INTEGER, height INTEGER, switch INTEGER, stall REAL, watch REAL,
    dropped_frames INTEGER, decoded_frames INTEGER, fatal INTEGER, error TEXT
);
CREATE INDEX IF NOT EXISTS video_metrics_video_at ON video_metrics (video_id, at);
CREATE INDEX IF NOT EXISTS video_metrics_at ON video_metrics (at);
CREATE TABLE IF NOT EXISTS video_metrics_daily (
    video_id TEXT NOT NULL, day TEXT NOT NULL, views INTEGER NOT NULL, unique_viewers INTEGER NOT NULL,
    watch_seconds REAL NOT NULL, stall_count INTEGER NOT NULL, stall_seconds REAL NOT NULL, errors INTEGER NOT NULL,
    fatal_errors INTEGER NOT NULL, level_switches INTEGER NOT NULL, dropped_frames INTEGER NOT NULL,
    decoded_frames INTEGER NOT NULL, PRIMARY KEY (video_id, day)
);
CREATE INDEX IF NOT EXISTS video_metrics_daily_day ON video_metrics_daily (day);
"""
_COLUMNS = (
    "sample_id, video_id, session_id, viewer, kind, at, day, position, buffer_health, startup, first_segment, "
    "quality, bitrate, height, switch, stall, watch, dropped_frames, decoded_frames, fatal, error"
)
# the counted figures, in `Figures`' order; `_figures` reads them by position
_COUNTED = (
    "SUM(kind = 'view'), COUNT(DISTINCT CASE WHEN kind = 'view' THEN viewer END), TOTAL(watch), "
    "SUM(kind = 'stall'), TOTAL(stall), SUM(kind = 'error'), SUM(kind = 'error' AND fatal = 1), "
    "SUM(kind = 'level' AND switch = 1), TOTAL(dropped_frames), TOTAL(decoded_frames), AVG(buffer_health)"
)
_DAILY = (
    "views, unique_viewers, watch_seconds, stall_count, stall_seconds, errors, fatal_errors, level_switches, "
    "dropped_frames, decoded_frames"
)


class SqliteAnalytics(AnalyticsStore):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analytics-sqlite")
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            return db

        self._db = await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    async def close(self) -> None:
        if self._db is not None:
            await self._run(lambda db: db.close())
            self._db = None
        self._executor.shutdown(wait=True)

    async def _run(self, work: Any) -> Any:
        db = self._db
        assert db is not None, "open() first"
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, db)

    async def _rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return list(await self._run(lambda db: db.execute(sql, params).fetchall()))

    async def record(self, samples: list[Sample]) -> int:
        rows = [_row(sample) for sample in samples]

        def insert(db: sqlite3.Connection) -> int:
            with db:  # one transaction: one fsync for the whole batch
                before = db.total_changes
                db.executemany(f"INSERT OR IGNORE INTO video_metrics ({_COLUMNS}) VALUES ({_marks(21)})", rows)
                return db.total_changes - before

        return int(await self._run(insert))

    async def figures(self, scope: Scope) -> Figures:
        found = await self._figures(scope, "'all'")
        return found.get("all", Figures())

    async def figures_by_day(self, scope: Scope) -> dict[str, Figures]:
        return await self._figures(scope, "day")

    async def _figures(self, scope: Scope, group: str) -> dict[str, Figures]:
        where, params = _where(scope)
        rows = await self._rows(f"SELECT {group}, {_COUNTED} FROM video_metrics WHERE {where} GROUP BY 1", *params)
        found = {row[0]: _counted(row[1:]) for row in rows}
        for key, percentile, value in await self._percentiles(scope, group, "startup"):
            setattr(found[key], f"startup_p{percentile}", value)
        for key, percentile, value in await self._percentiles(scope, group, "first_segment"):
            if percentile == 50:
                found[key].first_segment_p50 = value
        return found

    async def _percentiles(self, scope: Scope, group: str, column: str) -> list[tuple[str, int, float]]:
        where, params = _where(scope)
        rows = await self._rows(
            f"SELECT g, value, rank, n FROM (SELECT {group} AS g, {column} AS value, "
            f"ROW_NUMBER() OVER (PARTITION BY {group} ORDER BY {column}) AS rank, "
            f"COUNT(*) OVER (PARTITION BY {group}) AS n FROM video_metrics "
            f"WHERE {where} AND kind = 'view' AND {column} IS NOT NULL)",
            *params,
        )
        return [(g, p, value) for g, value, rank, n in rows for p in PERCENTILES if rank == nearest_rank(p, n)]

    async def qualities(self, scope: Scope) -> list[QualityFigures]:
        where, params = _where(scope)
        rows = await self._rows(
            "SELECT quality, SUM(kind = 'level'), AVG(CASE WHEN kind = 'level' THEN bitrate END), "
            "TOTAL(CASE WHEN kind = 'buffer' THEN watch END), MAX(height) FROM video_metrics "
            f"WHERE {where} AND quality IS NOT NULL GROUP BY quality",
            *params,
        )
        found = [
            QualityFigures(quality, int(plays), rounded(bitrate), round(watch, ROUND), height)
            for quality, plays, bitrate, watch, height in rows
        ]
        return sorted(found, key=by_quality)

    async def buffer_by_position(self, scope: Scope, bucket_s: int) -> list[PositionBucket]:
        where, params = _where(scope)
        rows = await self._rows(
            "SELECT CAST(position / ? AS INTEGER) * ? AS bucket, AVG(buffer_health), COUNT(*) FROM video_metrics "
            f"WHERE {where} AND kind = 'buffer' AND position IS NOT NULL AND buffer_health IS NOT NULL "
            "GROUP BY bucket ORDER BY bucket",
            bucket_s,
            bucket_s,
            *params,
        )
        return [PositionBucket(int(bucket), round(health, ROUND), int(n)) for bucket, health, n in rows]

    async def startup_histogram(self, scope: Scope, bounds: tuple[float, ...]) -> list[HistogramBucket]:
        where, params = _where(scope)
        cases = " ".join(f"WHEN startup <= ? THEN {i}" for i in range(len(bounds)))
        rows = await self._rows(
            f"SELECT CASE {cases} ELSE {len(bounds)} END AS bucket, COUNT(*) FROM video_metrics "
            f"WHERE {where} AND kind = 'view' AND startup IS NOT NULL GROUP BY bucket",
            *bounds,
            *params,
        )
        counts = dict(rows)
        return [HistogramBucket(bound, int(counts.get(i, 0))) for i, bound in enumerate((*bounds, None))]

    async def buffer_health_per_video(self, scope: Scope, limit: int) -> list[VideoBufferHealth]:
        where, params = _where(scope)
        rows = await self._rows(
            "SELECT video_id, AVG(buffer_health), SUM(kind = 'view') AS views FROM video_metrics "
            f"WHERE {where} GROUP BY video_id ORDER BY views DESC, video_id LIMIT ?",
            *params,
            limit,
        )
        return [VideoBufferHealth(video, rounded(health), int(views)) for video, health, views in rows]

    async def roll_up(self, days: Iterable[str]) -> int:
        written = 0
        for day in sorted(set(days)):
            rows = await self._rows(
                f"SELECT video_id, {_COUNTED} FROM video_metrics WHERE day = ? GROUP BY video_id", day
            )
            values = [(video, day, *_daily(_counted(counted))) for video, *counted in rows]

            def write(db: sqlite3.Connection, values: list[tuple[Any, ...]] = values) -> None:
                with db:
                    db.executemany(
                        f"INSERT OR REPLACE INTO video_metrics_daily (video_id, day, {_DAILY}) VALUES ({_marks(12)})",
                        values,
                    )

            await self._run(write)
            written += len(values)
        return written

    async def rollups(self, scope: Scope) -> dict[str, Figures]:
        sums = ", ".join(f"SUM({name})" for name in _DAILY.split(", "))
        where, params = "day >= ? AND day <= ?", [scope.first.isoformat(), scope.last.isoformat()]
        if scope.video_id is not None:
            where, params = f"{where} AND video_id = ?", [*params, scope.video_id]
        rows = await self._rows(f"SELECT day, {sums} FROM video_metrics_daily WHERE {where} GROUP BY day", *params)
        return {row[0]: _counted((*row[1:], None)) for row in rows}

    async def days_before(self, cutoff: float) -> list[str]:
        return [row[0] for row in await self._rows("SELECT DISTINCT day FROM video_metrics WHERE at < ?", cutoff)]

    async def delete_before(self, cutoff: float) -> int:
        def delete(db: sqlite3.Connection) -> int:
            with db:
                return int(db.execute("DELETE FROM video_metrics WHERE at < ?", (cutoff,)).rowcount)

        return int(await self._run(delete))


def _row(s: Sample) -> tuple[Any, ...]:
    return (
        s.sample_id, s.video_id, s.session_id, s.viewer, s.kind, s.at, s.day, s.position, s.buffer_health,
        s.startup, s.first_segment, s.quality, s.bitrate, s.height, s.switch, s.stall, s.watch,
        s.dropped_frames, s.decoded_frames, s.fatal, s.error,
    )  # fmt: skip


def _where(scope: Scope) -> tuple[str, list[Any]]:
    if scope.video_id is None:
        return "at >= ? AND at < ?", [scope.start, scope.end]
    return "video_id = ? AND at >= ? AND at < ?", [scope.video_id, scope.start, scope.end]


def _counted(row: Iterable[Any]) -> Figures:
    views, viewers, watch, stalls, stall, errors, fatal, switches, dropped, decoded, health = row
    return Figures(
        views=int(views or 0),
        unique_viewers=int(viewers or 0),
        watch_seconds=float(watch or 0),
        stall_count=int(stalls or 0),
        stall_seconds=float(stall or 0),
        errors=int(errors or 0),
        fatal_errors=int(fatal or 0),
        level_switches=int(switches or 0),
        dropped_frames=int(dropped or 0),
        decoded_frames=int(decoded or 0),
        avg_buffer_health=health,
    )


def _daily(f: Figures) -> tuple[Any, ...]:
    return (
        f.views, f.unique_viewers, f.watch_seconds, f.stall_count, f.stall_seconds, f.errors, f.fatal_errors,
        f.level_switches, f.dropped_frames, f.decoded_frames,
    )  # fmt: skip


def _marks(n: int) -> str:
    return ", ".join("?" * n)
