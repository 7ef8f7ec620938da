"""MongoDB adapter: collection `video_metrics` (one document per sample, `_id` its sample id) and
`video_metrics_daily` (one per video and day, `_id` `<videoId>:<day>`), answered by aggregation pipelines.

Indexes, created at open: `video_metrics` `{videoId: 1, at: 1}` (one video's range) and `{at: 1}`
(fleet-wide ranges, the retention sweep); `video_metrics_daily` `{videoId: 1, day: 1}` and `{day: 1}`.
Percentiles are nearest-rank, as on SQLite: the sorted values' element at `ceil(p·n/100) - 1`.
MongoDB 5.2 or later (`$sortArray`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from vodkit_shared.analytics.port import (
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
    document_of,
    rounded,
)

Pipeline = list[dict[str, Any]]
_DUPLICATE_KEY = 11000
_DAILY_FIELDS = (
    "views", "uniqueViewers", "watchSeconds", "stallCount", "stallSeconds", "errors", "fatalErrors",
    "levelSwitches", "droppedFrames", "decodedFrames",
)  # fmt: skip


def _is(kind: str) -> dict[str, Any]:
    return {"$eq": ["$kind", kind]}


def _count_if(condition: dict[str, Any]) -> dict[str, Any]:
    return {"$sum": {"$cond": [condition, 1, 0]}}


def _kept(name: str) -> dict[str, Any]:
    """The values collected under `name`, without the nulls that stood for "not this kind"."""
    return {"$filter": {"input": f"${name}", "cond": {"$ne": ["$$this", None]}}}


def _view_value(field: str) -> dict[str, Any]:
    return {"$cond": [{"$and": [_is("view"), {"$isNumber": f"${field}"}]}, f"${field}", None]}


def _percentile(values: dict[str, Any], percentile: int) -> dict[str, Any]:
    """Nearest rank: the element at ceil(p·n/100) - 1 of the sorted values (null when there are none)."""
    return {
        "$let": {
            "vars": {"sorted": {"$sortArray": {"input": values, "sortBy": 1}}},
            "in": {
                "$cond": [
                    {"$gt": [{"$size": "$$sorted"}, 0]},
                    {
                        "$arrayElemAt": [
                            "$$sorted",
                            {
                                "$subtract": [
                                    {
                                        "$toInt": {
                                            "$ceil": {
                                                "$divide": [{"$multiply": [percentile, {"$size": "$$sorted"}]}, 100]
                                            }
                                        }
                                    },
                                    1,
                                ]
                            },
                        ]
                    },
                    None,
                ]
            },
        }
    }


# what `_figures` groups, and how the seed's "buffer health analysis" averages: `$avg` skips missing fields
_COUNTED: dict[str, Any] = {
    "views": _count_if(_is("view")),
    "viewers": {"$addToSet": {"$cond": [_is("view"), "$viewer", None]}},
    "watchSeconds": {"$sum": "$watch"},
    "stallCount": _count_if(_is("stall")),
    "stallSeconds": {"$sum": "$stall"},
    "errors": _count_if(_is("error")),
    "fatalErrors": _count_if({"$and": [_is("error"), {"$eq": ["$fatal", True]}]}),
    "levelSwitches": _count_if({"$and": [_is("level"), {"$eq": ["$switch", True]}]}),
    "droppedFrames": {"$sum": "$droppedFrames"},
    "decodedFrames": {"$sum": "$decodedFrames"},
    "avgBufferHealth": {"$avg": "$bufferHealth"},
}


class MongoAnalytics(AnalyticsStore):
    def __init__(self, url: str, database: str) -> None:
        self._client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
        db = self._client[database]
        self._samples: AsyncCollection[dict[str, Any]] = db["video_metrics"]
        self._daily: AsyncCollection[dict[str, Any]] = db["video_metrics_daily"]

    async def open(self) -> None:
        await self._samples.create_index([("videoId", ASCENDING), ("at", ASCENDING)])
        await self._samples.create_index([("at", ASCENDING)])
        await self._daily.create_index([("videoId", ASCENDING), ("day", ASCENDING)])
        await self._daily.create_index([("day", ASCENDING)])

    async def close(self) -> None:
        await self._client.close()

    async def record(self, samples: list[Sample]) -> int:
        if not samples:
            return 0
        documents = [{"_id": sample.sample_id, **document_of(sample)} for sample in samples]
        try:
            return len((await self._samples.insert_many(documents, ordered=False)).inserted_ids)
        except BulkWriteError as error:  # a batch sent again: its samples are stored already
            if any(e.get("code") != _DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
                raise
            return int(error.details.get("nInserted", 0))

    async def _aggregate(self, collection: AsyncCollection[dict[str, Any]], pipeline: Pipeline) -> list[dict[str, Any]]:
        cursor = await collection.aggregate(pipeline)
        return [row async for row in cursor]

    async def figures(self, scope: Scope) -> Figures:
        return (await self._figures(scope, None)).get(None, Figures())

    async def figures_by_day(self, scope: Scope) -> dict[str, Figures]:
        return {str(day): figures for day, figures in (await self._figures(scope, "$day")).items()}

    async def _figures(self, scope: Scope, group: str | None) -> dict[Any, Figures]:
        pipeline: Pipeline = [
            {"$match": _match(scope)},
            {
                "$group": {
                    "_id": group,
                    **_COUNTED,
                    "startups": {"$push": _view_value("startup")},
                    "firstSegments": {"$push": _view_value("firstSegment")},
                }
            },
            {
                "$project": {
                    **{name: 1 for name in _COUNTED if name != "viewers"},
                    "uniqueViewers": {"$size": _kept("viewers")},
                    "startupP50": _percentile(_kept("startups"), 50),
                    "startupP95": _percentile(_kept("startups"), 95),
                    "firstSegmentP50": _percentile(_kept("firstSegments"), 50),
                }
            },
        ]
        return {row["_id"]: _figures_of(row) for row in await self._aggregate(self._samples, pipeline)}

    async def qualities(self, scope: Scope) -> list[QualityFigures]:
        """The seed's "playback quality" pipeline: average bitrate and plays per quality (and watch time)."""
        pipeline: Pipeline = [
            {"$match": {**_match(scope), "quality": {"$type": "string"}}},
            {
                "$group": {
                    "_id": "$quality",
                    "plays": _count_if(_is("level")),
                    "avgBitrate": {"$avg": {"$cond": [_is("level"), "$bitrate", None]}},
                    "watchSeconds": {"$sum": {"$cond": [_is("buffer"), "$watch", 0]}},
                    "height": {"$max": "$height"},
                }
            },
        ]
        found = [
            QualityFigures(
                row["_id"],
                int(row["plays"]),
                rounded(row["avgBitrate"]),
                round(float(row["watchSeconds"]), ROUND),
                row.get("height"),
            )
            for row in await self._aggregate(self._samples, pipeline)
        ]
        return sorted(found, key=by_quality)

    async def buffer_by_position(self, scope: Scope, bucket_s: int) -> list[PositionBucket]:
        pipeline: Pipeline = [
            {
                "$match": {
                    **_match(scope),
                    "kind": "buffer",
                    "position": {"$type": "number"},
                    "bufferHealth": {"$type": "number"},
                }
            },
            {
                "$group": {
                    "_id": {"$multiply": [{"$floor": {"$divide": ["$position", bucket_s]}}, bucket_s]},
                    "avgBufferHealth": {"$avg": "$bufferHealth"},
                    "samples": {"$sum": 1},
                }
            },
            {"$sort": {"_id": 1}},
        ]
        return [
            PositionBucket(int(row["_id"]), round(float(row["avgBufferHealth"]), ROUND), int(row["samples"]))
            for row in await self._aggregate(self._samples, pipeline)
        ]

    async def startup_histogram(self, scope: Scope, bounds: tuple[float, ...]) -> list[HistogramBucket]:
        branches = [{"case": {"$lte": ["$startup", bound]}, "then": i} for i, bound in enumerate(bounds)]
        pipeline: Pipeline = [
            {"$match": {**_match(scope), "kind": "view", "startup": {"$type": "number"}}},
            {"$group": {"_id": {"$switch": {"branches": branches, "default": len(bounds)}}, "count": {"$sum": 1}}},
        ]
        counts = {int(row["_id"]): int(row["count"]) for row in await self._aggregate(self._samples, pipeline)}
        return [HistogramBucket(bound, counts.get(i, 0)) for i, bound in enumerate((*bounds, None))]

    async def buffer_health_per_video(self, scope: Scope, limit: int) -> list[VideoBufferHealth]:
        """The seed's "buffer health analysis": average buffer health and views, grouped by video."""
        pipeline: Pipeline = [
            {"$match": _match(scope)},
            {
                "$group": {
                    "_id": "$videoId",
                    "avgBufferHealth": {"$avg": "$bufferHealth"},
                    "totalViews": _count_if(_is("view")),
                }
            },
            {"$sort": {"totalViews": -1, "_id": 1}},
            {"$limit": limit},
        ]
        return [
            VideoBufferHealth(row["_id"], rounded(row["avgBufferHealth"]), int(row["totalViews"]))
            for row in await self._aggregate(self._samples, pipeline)
        ]

    async def roll_up(self, days: Iterable[str]) -> int:
        written = 0
        for day in sorted(set(days)):
            pipeline: Pipeline = [
                {"$match": {"day": day}},
                {"$group": {"_id": "$videoId", **_COUNTED}},
                {
                    "$project": {
                        **{name: 1 for name in _COUNTED if name != "viewers"},
                        "uniqueViewers": {"$size": _kept("viewers")},
                    }
                },
            ]
            rows = await self._aggregate(self._samples, pipeline)
            writes = [
                ReplaceOne(
                    {"_id": f"{row['_id']}:{day}"}, {"videoId": row["_id"], "day": day, **_daily(row)}, upsert=True
                )
                for row in rows
            ]
            if writes:
                await self._daily.bulk_write(writes, ordered=False)
            written += len(writes)
        return written

    async def rollups(self, scope: Scope) -> dict[str, Figures]:
        match: dict[str, Any] = {"day": {"$gte": scope.first.isoformat(), "$lte": scope.last.isoformat()}}
        if scope.video_id is not None:
            match["videoId"] = scope.video_id
        pipeline: Pipeline = [
            {"$match": match},
            {"$group": {"_id": "$day", **{name: {"$sum": f"${name}"} for name in _DAILY_FIELDS}}},
        ]
        return {row["_id"]: _figures_of(row) for row in await self._aggregate(self._daily, pipeline)}

    async def days_before(self, cutoff: float) -> list[str]:
        return sorted(await self._samples.distinct("day", {"at": {"$lt": cutoff}}))

    async def delete_before(self, cutoff: float) -> int:
        return int((await self._samples.delete_many({"at": {"$lt": cutoff}})).deleted_count)


def _match(scope: Scope) -> dict[str, Any]:
    match: dict[str, Any] = {"at": {"$gte": scope.start, "$lt": scope.end}}
    if scope.video_id is not None:
        match["videoId"] = scope.video_id
    return match


def _daily(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row.get(name, 0) for name in _DAILY_FIELDS}


def _figures_of(row: dict[str, Any]) -> Figures:
    return Figures(
        views=int(row.get("views", 0)),
        unique_viewers=int(row.get("uniqueViewers", 0)),
        watch_seconds=float(row.get("watchSeconds", 0)),
        stall_count=int(row.get("stallCount", 0)),
        stall_seconds=float(row.get("stallSeconds", 0)),
        errors=int(row.get("errors", 0)),
        fatal_errors=int(row.get("fatalErrors", 0)),
        level_switches=int(row.get("levelSwitches", 0)),
        dropped_frames=int(row.get("droppedFrames", 0)),
        decoded_frames=int(row.get("decodedFrames", 0)),
        avg_buffer_health=row.get("avgBufferHealth"),
        startup_p50=row.get("startupP50"),
        startup_p95=row.get("startupP95"),
        first_segment_p50=row.get("firstSegmentP50"),
    )
