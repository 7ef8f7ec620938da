"""Playback analytics over HTTP: players report (`POST /api/playback-events`), owners and admins read.

A report is authorised by the playback token of the video watched (`?token=`, as every playback
URL), so an embed with no user token reports too, and the batch must name the token's video: a token
for video A cannot report for video B (403). A user token, when sent, names the viewer; otherwise the
player's own random id does. The figures (`GET /api/videos/{id}/analytics`, the owner's, and
`GET /api/analytics`, an admin's, fleet-wide with the processing funnel) cover whole UTC days,
`from` and `to` (ISO dates, inclusive; the last 7 days by default; at most
`VODKIT_ANALYTICS_MAX_RANGE_DAYS`).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict

from aiohttp import web

from vodkit_gateway.analytics_intake import QueueFull, StoreRefused, count, samples_of
from vodkit_gateway.analytics_schemas import (
    MAX_AGE_S,
    MAX_SKEW_S,
    AcceptedBatch,
    AnalyticsBody,
    BufferByPositionBody,
    DayBody,
    FiguresBody,
    FunnelBody,
    HistogramBucketBody,
    PlaybackBatch,
    PositionBody,
    QualityBody,
    VideoBufferHealthBody,
)
from vodkit_gateway.api import parse_json, reply
from vodkit_gateway.auth import owned_video
from vodkit_gateway.keys import ANALYTICS, ANALYTICS_WRITER, CALLER, SETTINGS, TOKENS, VIDEOS
from vodkit_gateway.videos import Videos
from vodkit_shared.analytics import POSITION_BUCKET_S, Report, Scope
from vodkit_shared.service import ApiError
from vodkit_shared.tokens import TokenError

DEFAULT_DAYS = 7


async def post_playback_events(request: web.Request) -> web.Response:
    granted = _token_video(request)
    batch = await parse_json(request, PlaybackBatch)
    if batch.video_id != granted:
        raise ApiError(403, "forbidden", "the playback token is for another video")
    _check_times(batch, time.time())
    user = request[CALLER]
    samples = samples_of(batch, f"user:{user}" if user is not None else f"anon:{batch.viewer_id}")
    try:
        await request.app[ANALYTICS_WRITER].write(samples)
    except QueueFull:
        raise ApiError(
            503, "overloaded", "too many reports waiting to be stored: try again shortly", {"Retry-After": "5"}
        ) from None
    except StoreRefused:
        raise ApiError(
            503, "storage_unavailable", "the report could not be stored: send it again shortly", {"Retry-After": "5"}
        ) from None
    count(samples)
    return reply(AcceptedBatch(accepted=len(samples)), status=202)


def _token_video(request: web.Request) -> str:
    token = request.query.get("token", "")
    if not token:
        raise ApiError(403, "forbidden", "reports need ?token=… from the video's playbackUrl")
    try:
        return request.app[TOKENS].verify_playback(token)
    except TokenError as error:
        raise ApiError(403, "forbidden", f"invalid playback token: {error}") from None


def _check_times(batch: PlaybackBatch, now: float) -> None:
    for index, event in enumerate(batch.events):
        if event.at > now + MAX_SKEW_S:
            raise ApiError(400, "bad_request", f"events.{index}.at: more than {MAX_SKEW_S} s in the future")
        if event.at < now - MAX_AGE_S:
            raise ApiError(400, "bad_request", f"events.{index}.at: older than {MAX_AGE_S} s")


async def video_analytics(request: web.Request) -> web.Response:
    video = await owned_video(request)
    report = await request.app[ANALYTICS].report(_scope(request, video.video_id))
    return reply(_body(report))


async def fleet_analytics(request: web.Request) -> web.Response:
    scope = _scope(request, None)
    report = await request.app[ANALYTICS].report(scope)
    return reply(_body(report, await funnel(request.app[VIDEOS], scope)))


def _scope(request: web.Request, video_id: str | None) -> Scope:
    today = dt.datetime.now(dt.UTC).date()
    last = _date(request, "to") or today
    try:
        first = _date(request, "from") or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    except OverflowError:  # `to` in the first days of year 1
        raise ApiError(400, "bad_request", "from: before the first day there is") from None
    if first > last:
        raise ApiError(400, "bad_request", "from: after to")
    most = request.app[SETTINGS].analytics_max_range_days
    if (last - first).days + 1 > most:
        raise ApiError(400, "bad_request", f"from, to: at most {most} days")
    return Scope(first, last, video_id)


def _date(request: web.Request, name: str) -> dt.date | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name}: not a date (YYYY-MM-DD)") from None


async def funnel(videos: Videos, scope: Scope) -> FunnelBody:
    """Videos created in the scope's days, by how far they got."""
    by_status = {}
    failed_uploads = 0
    for status in ("uploading", "processing", "completed", "failed"):
        found = [v for v in await videos.in_status(status) if scope.start <= v.created_at < scope.end]
        by_status[status] = len(found)
        failed_uploads += sum(1 for v in found if v.failed_stage == "upload")
    return FunnelBody(
        created=sum(by_status.values()),
        uploaded=by_status["processing"] + by_status["completed"] + by_status["failed"] - failed_uploads,
        completed=by_status["completed"],
        failed=by_status["failed"],
        processing=by_status["processing"],
        uploading=by_status["uploading"],
    )


def _body(report: Report, funnel: FunnelBody | None = None) -> AnalyticsBody:
    return AnalyticsBody(
        video_id=report.scope.video_id,
        from_=report.scope.first.isoformat(),
        to=report.scope.last.isoformat(),
        summary=FiguresBody(**asdict(report.summary)),
        days=[DayBody(**asdict(day.figures), day=day.day, source=day.source) for day in report.days],
        qualities=[QualityBody(**asdict(quality)) for quality in report.qualities],
        buffer_by_position=BufferByPositionBody(
            bucket_seconds=POSITION_BUCKET_S,
            buckets=[PositionBody(**asdict(bucket)) for bucket in report.buffer_by_position],
        ),
        startup_histogram=[HistogramBucketBody(**asdict(bucket)) for bucket in report.startup_histogram],
        videos=[VideoBufferHealthBody(**asdict(video)) for video in report.videos],
        funnel=funnel,
    )
