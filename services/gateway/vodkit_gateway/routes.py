"""Every route of the gateway, with what it takes and answers, who may call it (`security`) and which
rate budget it draws on (`rate_class`): the router, the middlewares that enforce those two, and
`/api/openapi.json` all read this table."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from vodkit_gateway import (
    admin,
    analytics_api,
    api,
    playback,
    subtitles_api,
    tus,
    upload_proxy,
    webhook_api,
    webpage,
)
from vodkit_gateway.analytics_schemas import AcceptedBatch, AnalyticsBody, PlaybackBatch
from vodkit_gateway.keys import OPENAPI, SETTINGS
from vodkit_gateway.openapi import Body, Operation, Param, Reply, document
from vodkit_gateway.schemas import (
    MAX_UPLOAD,
    VIDEO_ID_PATTERN,
    ChunkForm,
    ChunkProgress,
    CreatedWebhookBody,
    CreateVideo,
    CreateWebhook,
    DeadLetterList,
    DeliveryBody,
    DeliveryList,
    Health,
    JobList,
    ReplayBody,
    RetryBody,
    UpdateVideo,
    UploadGrantBody,
    UploadState,
    VideoDetailsBody,
    VideoList,
    VideoStatusBody,
    WebhookBody,
    WebhookList,
)
from vodkit_gateway.subtitles_api import SubtitleBody, SubtitleForm, SubtitleList
from vodkit_gateway.watermark_api import (
    WatermarkBody,
    WatermarkForm,
    delete_my_watermark,
    delete_video_watermark,
    get_my_watermark,
    put_my_watermark,
    put_video_watermark,
)
from vodkit_shared.asyncapi import document_json
from vodkit_shared.content_keys import KEY_NAME_PATTERN
from vodkit_shared.rungs import RENDITION_PATTERN
from vodkit_shared.service import healthz, metrics, readyz

VIDEO_ID = Param(
    "video_id",
    "path",
    {"type": "string", "pattern": VIDEO_ID_PATTERN},
    "The video's id (a lowercase UUID).",
    route_pattern="[0-9a-f-]{36}",
)
TOKEN = Param("token", "query", {"type": "string", "minLength": 1}, "Playback token from the video's playbackUrl.")
RUNG = Param(
    "rung",
    "path",
    {"type": "string", "pattern": f"^({RENDITION_PATTERN})$"},
    "Ladder rung, e.g. 720p, or `preview`: the early rendition a video plays at while its ladder encodes.",
    True,
    RENDITION_PATTERN,
)
SEGMENT = Param(
    "segment",
    "path",
    {"type": "string", "pattern": f"^({playback.SEGMENT_PATTERN})$"},
    "A media segment, or the fMP4 initialisation segment.",
    route_pattern=playback.SEGMENT_PATTERN,
)
STORYBOARD_FILE = Param(
    "file",
    "path",
    {"type": "string", "pattern": f"^({playback.STORYBOARD_PATTERN})$"},
    "The WebVTT index or one of its sprite sheets.",
    route_pattern=playback.STORYBOARD_PATTERN,
)
KEY = Param(
    "key",
    "path",
    {"type": "string", "pattern": f"^{KEY_NAME_PATTERN}$"},
    "A key as the playlist's EXT-X-KEY names it, e.g. 00000.key.",
    route_pattern=KEY_NAME_PATTERN,
)
LANGUAGE = Param(
    "language",
    "path",
    {"type": "string", "pattern": f"^{subtitles_api.LANGUAGE}$"},
    "A subtitle track's BCP 47 language tag (a conservative subset: `en`, `pt-BR`, `zh-Hans`, `es-419`).",
    route_pattern=subtitles_api.LANGUAGE,
)
SUBTITLE_SEGMENT = Param(
    "segment",
    "path",
    {"type": "string", "pattern": f"^{playback.SUBTITLE_SEGMENT_PATTERN}$"},
    "A WebVTT segment of the subtitle rendition.",
    route_pattern=playback.SUBTITLE_SEGMENT_PATTERN,
)
SUBTITLE_REVISION = Param(
    "revision",
    "path",
    {"type": "string", "pattern": f"^{playback.SUBTITLE_REVISION_PATTERN}$"},
    "A version of the track (the video's subtitle revision that made it), as the master names it.",
    route_pattern=playback.SUBTITLE_REVISION_PATTERN,
)
THUMBNAIL_TIME = Param(
    "t", "query", {"type": "string", "pattern": r"^[0-9]{1,6}(\.[0-9]{1,3})?$"}, "Seconds into the video, e.g. 12.5."
)
THUMBNAIL_WIDTH = Param(
    "w", "query", {"type": "string", "pattern": "^[0-9]{2,4}$"}, "Width in pixels: even, 16 to 1920."
)
IF_NONE_MATCH = Param(
    "If-None-Match", "header", {"type": "string"}, "ETags of answers the client holds.", required=False
)
RANGE = Param("Range", "header", {"type": "string"}, "One byte range, e.g. `bytes=0-1023`.", required=False)
TUS_RESUMABLE = Param(
    "Tus-Resumable", "header", {"type": "string", "enum": ["1.0.0"]}, "The tus version (412 for others)."
)
# canonical base64 only: the padding bits of a last partial group are zero (`YQ==`, never `YR==`)
_BASE64 = "([A-Za-z0-9+/]{4})*([A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?"
_PAIR = rf"[^\s,]+( {_BASE64})?"
TUS_METADATA = rf"^\s*$|^\s*{_PAIR}(\s*,\s*{_PAIR})*\s*$"  # key, space, base64 value; pairs comma-separated
TUS_CHECKSUM = r"^(sha1 [A-Za-z0-9+/]{26}[AEIMQUYcgkosw048]=|sha256 [A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=)$"
_TUS_REPLY = ("Tus-Resumable", "Upload-Offset", "Upload-Length", "Upload-Expires")

BINARY = {"type": "string", "format": "binary"}
JSON_ERRORS = (400, 413, 415)
SSE_VIDEO_LIST = {  # one event, as schemathesis and OpenAPI 3.2's itemSchema read a stream
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"const": "videos"},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}
MEDIA_REPLIES = {
    200: Reply("The object.", schema=BINARY, media_type="application/octet-stream", headers=("Cache-Control",)),
    206: Reply(
        "The range asked for.", schema=BINARY, media_type="application/octet-stream", headers=("Content-Range",)
    ),
}


def _playback(operation_id: str, path: str, handler: Any, summary: str, *params: Param) -> Operation:
    return Operation(
        "GET",
        f"/videos/{{video_id}}/{path}",
        handler,
        operation_id,
        summary,
        "playback",
        MEDIA_REPLIES,
        errors=(403, 404, 416),
        params=(VIDEO_ID, *params, TOKEN, RANGE),
        rate_class="playback",
    )


def _tus_collection(path: str, suffix: str) -> list[Operation]:
    return [
        Operation(
            "OPTIONS",
            path,
            tus.options,
            f"tusOptions{suffix}",
            "tus: what this server supports",
            "tus",
            {204: Reply("Supported version, extensions and limits.", headers=("Tus-Version", "Tus-Extension"))},
            rate_limited=False,
        ),
        Operation(
            "POST",
            path,
            tus.create,
            f"tusCreate{suffix}",
            "tus: create an upload (and its video), optionally with the first bytes",
            "tus",
            {201: Reply("Created; Location is the upload's URL.", headers=("Location", *_TUS_REPLY))},
            errors=(400, 409, 412, 413, 415, 460, 503),
            security="user",
            rate_class="upload",
            params=(
                TUS_RESUMABLE,
                Param(
                    "Upload-Length",
                    "header",
                    {"type": "integer", "minimum": 1, "maximum": MAX_UPLOAD},
                    "Bytes in the file.",
                ),
                Param(
                    "Upload-Metadata",
                    "header",
                    {"type": "string", "pattern": TUS_METADATA},
                    "`filename <base64>`, `encryption <base64 of none or aes-128>`, …",
                    False,
                ),
            ),
            body=Body("application/offset+octet-stream", schema=BINARY, required=False),
        ),
    ]


def _tus_upload(method: str, operation_id: str, summary: str, reply: Reply, *extra: Param, **kw: Any) -> Operation:
    return Operation(
        method,
        "/api/uploads/{video_id}",
        tus.options if method == "OPTIONS" else tus.upload,
        operation_id,
        summary,
        "tus",
        {200 if method == "HEAD" else 204: reply},
        params=(VIDEO_ID, *extra) if method == "OPTIONS" else (VIDEO_ID, TUS_RESUMABLE, *extra),
        rate_class="upload",
        **kw,
    )


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def asyncapi_json(request: web.Request) -> web.Response:
    """The event contract, naming the exchange this deployment publishes on."""
    return web.Response(text=document_json(request.app[SETTINGS].bus_exchange), content_type="application/json")


WEBHOOK_ID = Param(
    "webhook_id",
    "path",
    {"type": "string", "pattern": webhook_api.ID_PATTERN},
    "The webhook's id (a lowercase UUID).",
    route_pattern="[0-9a-f-]{36}",
)
DELIVERY_ID = Param(
    "delivery_id",
    "path",
    {"type": "string", "pattern": webhook_api.ID_PATTERN},
    "The delivery's id (a lowercase UUID).",
    route_pattern="[0-9a-f-]{36}",
)
CONSUMER = Param(
    "service",
    "path",
    {"type": "string", "pattern": "^[a-z][a-z-]{0,40}$"},
    "A consumer's name, e.g. `transcoder` (VODKIT_DEAD_LETTER_SERVICES lists them).",
    route_pattern="[a-z][a-z-]{0,40}",
)
ADMIN_OPERATIONS = [  # the job console (admin.py): 403 for a user token without the admin role
    Operation(
        "GET",
        "/api/admin/jobs",
        admin.list_jobs,
        "listJobs",
        "Videos waiting, being worked on, or failed",
        "admin",
        {200: Reply("Newest first, processing before failed.", JobList)},
        errors=(400,),
        security="admin",
        rate_class="read",
        params=(Param("state", "query", {"type": "string", "enum": list(admin.JOB_STATES)}, "Only these.", False),),
    ),
    Operation(
        "POST",
        "/api/admin/videos/{video_id}/retry",
        admin.retry_video,
        "retryVideo",
        "Run a failed video again: from its original, or from its renditions if packaging failed",
        "admin",
        {202: Reply("Back in processing; it ends completed or failed.", RetryBody)},
        errors=(404, 409),
        security="admin",
        params=(VIDEO_ID,),
        description="409 unless the video failed after its upload completed (an upload that failed left no "
        "original to start from).",
    ),
    Operation(
        "GET",
        "/api/admin/dead-letters",
        admin.list_dead_letters,
        "listDeadLetters",
        "Events each consumer gave up on, left where they are",
        "admin",
        {200: Reply("Per consumer, oldest first.", DeadLetterList)},
        errors=(404,),
        security="admin",
        rate_class="read",
        params=(Param("service", "query", CONSUMER.schema, "Only this consumer's.", False),),
    ),
    Operation(
        "POST",
        "/api/admin/dead-letters/{service}/replay",
        admin.replay_dead_letters,
        "replayDeadLetters",
        "Put a consumer's dead letters back on its queues, as first deliveries",
        "admin",
        {200: Reply("How many went back.", ReplayBody)},
        errors=(404,),
        security="admin",
        params=(CONSUMER,),
        description="Consumers are idempotent: replaying an event that was handled since changes nothing.",
    ),
]

WEBHOOK_OPERATIONS = [
    Operation(
        "POST",
        "/api/webhooks",
        webhook_api.create_webhook,
        "createWebhook",
        "Register a webhook for events about my videos",
        "webhooks",
        {201: Reply("Registered; the secret is shown only now.", CreatedWebhookBody)},
        errors=(*JSON_ERRORS, 409),
        security="user",
        body=Body("application/json", CreateWebhook),
        description="400 for an unknown event type, a URL that is not http(s), or one that leads to a "
        "loopback, private, link-local or reserved address (unless VODKIT_WEBHOOK_ALLOW_PRIVATE).",
    ),
    Operation(
        "GET",
        "/api/webhooks",
        webhook_api.list_webhooks,
        "listWebhooks",
        "My webhooks (without their secrets)",
        "webhooks",
        {200: Reply("The caller's webhooks, oldest first.", WebhookList)},
        security="user",
        rate_class="read",
    ),
    Operation(
        "GET",
        "/api/webhooks/{webhook_id}",
        webhook_api.get_webhook,
        "getWebhook",
        "One of my webhooks (without its secret)",
        "webhooks",
        {200: Reply("The webhook.", WebhookBody)},
        errors=(404,),
        security="user",
        rate_class="read",
        params=(WEBHOOK_ID,),
    ),
    Operation(
        "DELETE",
        "/api/webhooks/{webhook_id}",
        webhook_api.delete_webhook,
        "deleteWebhook",
        "Delete a webhook and its delivery log; nothing more is sent",
        "webhooks",
        {204: Reply("Deleted.")},
        errors=(404,),
        security="user",
        params=(WEBHOOK_ID,),
    ),
    Operation(
        "GET",
        "/api/webhooks/{webhook_id}/deliveries",
        webhook_api.list_deliveries,
        "listWebhookDeliveries",
        "A webhook's delivery log, newest first",
        "webhooks",
        {200: Reply("The newest 100 deliveries.", DeliveryList)},
        errors=(404,),
        security="user",
        rate_class="read",
        params=(WEBHOOK_ID,),
    ),
    Operation(
        "POST",
        "/api/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
        webhook_api.redeliver,
        "redeliverWebhookDelivery",
        "Send a delivery again now, with the same event id",
        "webhooks",
        {202: Reply("Due again now.", DeliveryBody)},
        errors=(404, 409),
        security="user",
        params=(WEBHOOK_ID, DELIVERY_ID),
        description="409 while an attempt of it is in flight.",
    ),
]

_DAY = {"type": "string", "format": "date"}
ANALYTICS_RANGE = (
    Param("from", "query", _DAY, "First UTC day (YYYY-MM-DD); default: 6 days before `to`.", required=False),
    Param("to", "query", _DAY, "Last UTC day, inclusive (YYYY-MM-DD); default: today.", required=False),
)
ANALYTICS_OPERATIONS = [  # playback analytics (analytics_api.py, docs/analytics.md)
    Operation(
        "POST",
        "/api/playback-events",
        analytics_api.post_playback_events,
        "postPlaybackEvents",
        "Report what a player saw: a view, buffer health, levels, stalls, errors",
        "analytics",
        {202: Reply("Stored.", AcceptedBatch)},
        errors=(*JSON_ERRORS, 403, 503),
        security="optional_user",
        rate_class="analytics",
        params=(TOKEN,),
        body=Body("application/json", PlaybackBatch),
        description="Authorised by the playback token of the video watched (403 for another video's). A user "
        "token, if sent, names the viewer. Times (`at`) must lie within the last day and at most 5 minutes "
        "ahead (400 otherwise). 503 while the store is too far behind.",
    ),
    Operation(
        "GET",
        "/api/videos/{video_id}/analytics",
        analytics_api.video_analytics,
        "getVideoAnalytics",
        "A video's playback analytics, by UTC day",
        "analytics",
        {200: Reply("The figures.", AnalyticsBody)},
        errors=(400, 403, 404),
        security="user",
        rate_class="read",
        params=(VIDEO_ID, *ANALYTICS_RANGE),
        description="The owner only. 400 if `from` is after `to` or the range is longer than "
        "VODKIT_ANALYTICS_MAX_RANGE_DAYS (366).",
    ),
    Operation(
        "GET",
        "/api/analytics",
        analytics_api.fleet_analytics,
        "getFleetAnalytics",
        "Playback analytics of every video, and the processing funnel",
        "analytics",
        {200: Reply("The figures, with `funnel`.", AnalyticsBody)},
        errors=(400,),
        security="admin",
        rate_class="read",
        params=ANALYTICS_RANGE,
        description="400 if `from` is after `to` or the range is longer than VODKIT_ANALYTICS_MAX_RANGE_DAYS (366).",
    ),
]

SUBTITLE_OPERATIONS = [  # subtitle tracks (subtitles_api.py); their renditions are playback routes
    Operation(
        "POST",
        "/api/videos/{video_id}/subtitles",
        subtitles_api.add_subtitles,
        "addSubtitles",
        "Add or replace a subtitle track (WebVTT or SRT)",
        "subtitles",
        {202: Reply("Validated and handed to the packager; `processing` until the master lists it.", SubtitleBody)},
        errors=(400, 403, 404, 409, 413, 415),
        security="user",
        params=(VIDEO_ID,),
        body=Body("multipart/form-data", SubtitleForm),
        description="The owner only. 400 for a file that is not UTF-8 WebVTT or SRT, has a malformed timestamp, "
        "a cue ending before it starts, too many cues, cues that overlap for too long (over 8 MiB once each is "
        "repeated in every 6 s segment it spans), or (once the video is completed) a cue ending after the "
        "video; 413 over VODKIT_MAX_SUBTITLE_BYTES; 409 for a failed video, one with "
        "VODKIT_MAX_SUBTITLE_TRACKS languages already, or a label another language's track has. "
        "A track of the same language is replaced.",
    ),
    Operation(
        "GET",
        "/api/videos/{video_id}/subtitles",
        subtitles_api.list_subtitles,
        "listSubtitles",
        "A video's subtitle tracks",
        "subtitles",
        {200: Reply("By language.", SubtitleList)},
        errors=(403, 404),
        security="optional_user",
        rate_class="read",
        params=(VIDEO_ID,),
        description="Whoever may see the video.",
    ),
    Operation(
        "DELETE",
        "/api/videos/{video_id}/subtitles/{language}",
        subtitles_api.delete_subtitles,
        "deleteSubtitles",
        "Remove a subtitle track",
        "subtitles",
        {204: Reply("Removed from the video; the master stops listing it shortly after.")},
        errors=(403, 404),
        security="user",
        params=(VIDEO_ID, LANGUAGE),
        description="The owner only.",
    ),
]

WATERMARK_FORM = Body("multipart/form-data", WatermarkForm)
WATERMARK_OPERATIONS = [  # watermarks burned into every rendition (watermark_api.py)
    Operation(
        "PUT",
        "/api/watermark",
        put_my_watermark,
        "putMyWatermark",
        "Set my default watermark: a PNG with transparency, and where it goes",
        "watermarks",
        {200: Reply("Stored; videos created from now on get a copy of it.", WatermarkBody)},
        errors=(400, 413, 415),
        security="user",
        body=WATERMARK_FORM,
        description="400 for a file that is not a PNG with an alpha channel (or tRNS), or is larger than "
        "VODKIT_WATERMARK_MAX_SIDE pixels a side; 413 over VODKIT_WATERMARK_MAX_BYTES. Videos already created "
        "keep the watermark they were created with.",
    ),
    Operation(
        "GET",
        "/api/watermark",
        get_my_watermark,
        "getMyWatermark",
        "My default watermark's settings (not its image)",
        "watermarks",
        {200: Reply("The settings.", WatermarkBody)},
        errors=(404,),
        security="user",
        rate_class="read",
    ),
    Operation(
        "DELETE",
        "/api/watermark",
        delete_my_watermark,
        "deleteMyWatermark",
        "Remove my default watermark",
        "watermarks",
        {204: Reply("Removed; videos created with it keep their copy.")},
        errors=(404,),
        security="user",
    ),
    Operation(
        "PUT",
        "/api/videos/{video_id}/watermark",
        put_video_watermark,
        "putVideoWatermark",
        "Set a video's own watermark, while it uploads",
        "watermarks",
        {200: Reply("Stored; it is burned into every rendition.", WatermarkBody)},
        errors=(400, 403, 404, 409, 413, 415),
        security="user",
        params=(VIDEO_ID,),
        body=WATERMARK_FORM,
        description="The owner only, while the video is `uploading` (409 after: it is burned in as it encodes). "
        "400 and 413 as for the default.",
    ),
    Operation(
        "DELETE",
        "/api/videos/{video_id}/watermark",
        delete_video_watermark,
        "deleteVideoWatermark",
        "Remove a video's watermark, while it uploads",
        "watermarks",
        {204: Reply("Removed: the video is encoded without one.")},
        errors=(403, 404, 409),
        security="user",
        params=(VIDEO_ID,),
        description="The owner only, while the video is `uploading` (409 after). 404 if it has none.",
    ),
]

OPERATIONS: list[Operation] = [
    Operation(
        "POST",
        "/api/videos",
        api.create_video,
        "createVideo",
        "Create a video and get a token to upload it",
        "videos",
        {201: Reply("Created.", UploadGrantBody)},
        errors=JSON_ERRORS,
        security="user",
        body=Body("application/json", CreateVideo),
    ),
    Operation(
        "GET",
        "/api/videos",
        api.list_my_videos,
        "listMyVideos",
        "My videos, newest first",
        "videos",
        {200: Reply("The caller's videos.", VideoList)},
        security="user",
        rate_class="read",
    ),
    Operation(
        "GET",
        "/api/videos/public",
        api.list_public_videos,
        "listPublicVideos",
        "Public videos, newest first",
        "videos",
        {200: Reply("Completed public videos of every user.", VideoList)},
        rate_class="read",
    ),
    Operation(
        "GET",
        "/api/videos/live",
        api.watch_my_videos,
        "watchMyVideos",
        "My videos as server-sent events, sent again on every change",
        "videos",
        {200: Reply("`event: videos`, data a VideoList.", schema=SSE_VIDEO_LIST, media_type="text/event-stream")},
        security="user",
        rate_class="read",
    ),
    Operation(
        "GET",
        "/api/videos/{video_id}",
        api.video_details,
        "getVideo",
        "A video's details and status",
        "videos",
        {200: Reply("The video.", VideoDetailsBody)},
        errors=(403, 404),
        security="optional_user",
        rate_class="read",
        params=(VIDEO_ID,),
        description="Private videos: owner only. Unlisted and public videos: anyone with the id.",
    ),
    Operation(
        "PATCH",
        "/api/videos/{video_id}",
        api.update_video,
        "updateVideo",
        "Change a video's visibility",
        "videos",
        {200: Reply("The video as changed.", VideoDetailsBody)},
        errors=(*JSON_ERRORS, 403, 404),
        security="user",
        params=(VIDEO_ID,),
        body=Body("application/json", UpdateVideo),
    ),
    Operation(
        "DELETE",
        "/api/videos/{video_id}",
        api.delete_video,
        "deleteVideo",
        "Delete a video and all its objects",
        "videos",
        {204: Reply("Deleted.")},
        errors=(403, 404, 409),
        security="user",
        params=(VIDEO_ID,),
    ),
    Operation(
        "GET",
        "/api/videos/{video_id}/status",
        api.video_status,
        "getVideoStatus",
        "A video's processing status",
        "videos",
        {
            200: Reply("The status; ETag names this answer.", VideoStatusBody, headers=("ETag",)),
            304: Reply("Unchanged since the answer whose ETag If-None-Match names.", headers=("ETag",)),
        },
        errors=(403, 404),
        security="optional_user",
        rate_class="read",
        params=(VIDEO_ID, IF_NONE_MATCH),
        description="Send If-None-Match with the last ETag to poll cheaply: 304 while nothing changed.",
    ),
    Operation(
        "POST",
        "/api/videos/{video_id}/upload-token",
        api.renew_upload_token,
        "renewUploadToken",
        "A fresh upload token for a video still uploading",
        "uploads",
        {200: Reply("A new token.", UploadGrantBody)},
        errors=(403, 404, 409),
        security="user",
        params=(VIDEO_ID,),
    ),
    Operation(
        "POST",
        "/api/videos/upload",
        upload_proxy.forward_upload,
        "uploadChunk",
        "Upload one chunk (the seed's API)",
        "uploads",
        {200: Reply("Stored; what the upload has so far.", ChunkProgress)},
        errors=(400, 403, 409, 413, 503),
        security="upload",
        rate_class="upload",
        body=Body("multipart/form-data", ChunkForm),
    ),
    Operation(
        "GET",
        "/api/videos/{video_id}/upload",
        upload_proxy.forward_upload_state,
        "getUploadState",
        "Which chunks are stored, to resume an upload",
        "uploads",
        {200: Reply("The upload's state.", UploadState)},
        errors=(403, 404, 503),
        security="upload_or_user",
        rate_class="upload",
        params=(VIDEO_ID,),
        description="With the upload token, or with the owner's user token.",
    ),
    *_tus_collection("/api/uploads/", ""),
    *_tus_collection("/api/uploads", "NoSlash"),
    _tus_upload(
        "OPTIONS",
        "tusUploadOptions",
        "tus: what this server supports",
        Reply("Supported."),
        errors=(404,),
        rate_limited=False,
    ),
    _tus_upload(
        "HEAD",
        "tusUploadOffset",
        "tus: how many bytes the server has",
        Reply("Upload-Offset says.", headers=_TUS_REPLY),
        errors=(400, 403, 404, 412, 503),
        security="user",
    ),
    _tus_upload(
        "PATCH",
        "tusAppend",
        "tus: append bytes at Upload-Offset",
        Reply("Appended.", headers=_TUS_REPLY),
        Param("Upload-Offset", "header", {"type": "string", "pattern": "^[0-9]+$"}, "Where these bytes go."),
        Param(
            "Upload-Checksum", "header", {"type": "string", "pattern": TUS_CHECKSUM}, "`sha1|sha256 <base64>`", False
        ),
        errors=(400, 403, 404, 409, 412, 413, 415, 460, 503),
        security="user",
        body=Body("application/offset+octet-stream", schema=BINARY),
    ),
    _tus_upload(
        "DELETE",
        "tusTerminate",
        "tus: abandon an upload",
        Reply("Terminated."),
        errors=(400, 403, 404, 409, 412, 503),
        description="Only while bytes are missing: a complete upload is 409 (delete the video instead).",
        security="user",
    ),
    *WEBHOOK_OPERATIONS,
    *ADMIN_OPERATIONS,
    *ANALYTICS_OPERATIONS,
    *WATERMARK_OPERATIONS,
    *SUBTITLE_OPERATIONS,
    _playback("getMasterPlaylist", "master.m3u8", playback.serve_master, "Master playlist (URIs signed)"),
    _playback("getMediaPlaylist", "{rung}/playlist.m3u8", playback.serve_media_playlist, "A rung's playlist", RUNG),
    _playback("getSegment", "{rung}/{segment}", playback.serve_segment, "A media segment", RUNG, SEGMENT),
    _playback("getPoster", "poster.jpg", playback.serve_poster, "The poster image"),
    _playback(
        "getStoryboard", "storyboard/{file}", playback.serve_storyboard, "Storyboard index or sprite", STORYBOARD_FILE
    ),
    Operation(
        "GET",
        "/videos/{video_id}/keys/{key}",
        playback.serve_key,
        "getKey",
        "An encrypted video's AES-128 key (16 bytes)",
        "playback",
        {
            200: Reply(
                "The key; no cache may keep it.",
                schema=BINARY,
                media_type="application/octet-stream",
                headers=("Cache-Control",),
            )
        },
        errors=(403, 404),
        params=(VIDEO_ID, KEY, TOKEN),
        rate_class="playback",
        description='Named by the `EXT-X-KEY` tags of an encrypted video\'s playlists (`"encryption": '
        '"aes-128"`), and served only under that video\'s playback token.',
    ),
    Operation(
        "GET",
        "/videos/{video_id}/thumbnail.jpg",
        playback.serve_thumbnail,
        "getThumbnail",
        "A frame at a chosen time",
        "playback",
        {200: Reply("A JPEG image.", schema=BINARY, media_type="image/jpeg", headers=("Cache-Control",))},
        errors=(400, 403, 404),
        params=(VIDEO_ID, THUMBNAIL_TIME, THUMBNAIL_WIDTH, TOKEN),
        rate_class="playback",
        description="Made on request from the nearest rendition (the smallest rung at least `w` wide) and kept; "
        "`t` is rounded to a tenth of a second. 400 for a `t` beyond the video's duration.",
    ),
    _playback("getDownload", "download/{rung}.mp4", playback.serve_download, "A rung as an MP4 file to save", RUNG),
    _playback(
        "getSubtitlePlaylist",
        "subtitles/{language}/{revision}/playlist.m3u8",
        playback.serve_subtitle_playlist,
        "A subtitle rendition's playlist",
        LANGUAGE,
        SUBTITLE_REVISION,
    ),
    _playback(
        "getSubtitleSegment",
        "subtitles/{language}/{revision}/{segment}",
        playback.serve_subtitle_segment,
        "A WebVTT segment of a subtitle rendition",
        LANGUAGE,
        SUBTITLE_REVISION,
        SUBTITLE_SEGMENT,
    ),
    _playback(
        "getLegacySubtitlePlaylist",
        "subtitles/{language}/playlist.m3u8",
        playback.serve_legacy_subtitle_playlist,
        "A subtitle rendition's playlist, as masters written before per-version folders name it",
        LANGUAGE,
    ),
    _playback(
        "getLegacySubtitleSegment",
        "subtitles/{language}/{segment}",
        playback.serve_legacy_subtitle_segment,
        "A WebVTT segment of a subtitle rendition, as masters written before per-version folders name it",
        LANGUAGE,
        SUBTITLE_SEGMENT,
    ),
    Operation(
        "GET",
        "/api/openapi.json",
        openapi_json,
        "getOpenApi",
        "This document",
        "meta",
        {200: Reply("OpenAPI 3.1.", schema={"type": "object"})},
        rate_limited=False,
    ),
    Operation(
        "GET",
        "/api/asyncapi.json",
        asyncapi_json,
        "getAsyncApi",
        "The events vodkit publishes on the bus (docs/events.md)",
        "meta",
        {200: Reply("AsyncAPI 3.0.", schema={"type": "object"})},
        rate_limited=False,
    ),
    Operation(
        "GET",
        "/healthz",
        healthz,
        "getHealth",
        "Liveness",
        "meta",
        {200: Reply("Alive.", Health)},
        rate_limited=False,
    ),
    Operation(
        "GET",
        "/readyz",
        readyz,
        "getReadiness",
        "Readiness: the stores and the bus answer",
        "meta",
        {200: Reply("Ready.", Health), 503: Reply("Not ready; reason says why.", Health)},
        rate_limited=False,
    ),
    Operation(
        "GET",
        "/metrics",
        metrics,
        "getMetrics",
        "Prometheus metrics",
        "meta",
        {200: Reply("Text exposition format.", schema={"type": "string"}, media_type="text/plain")},
        rate_limited=False,
    ),
    Operation(
        "GET",
        "/",
        webpage.index,
        "getWebPage",
        "The web page: upload, my videos, player",
        "web",
        {200: Reply("HTML.", schema={"type": "string"}, media_type="text/html")},
        rate_limited=False,
    ),
    Operation(
        "GET",
        "/dashboard",
        webpage.dashboard,
        "getDashboard",
        "The playback analytics dashboard (plots of the analytics API's figures)",
        "web",
        {200: Reply("HTML.", schema={"type": "string"}, media_type="text/html")},
        rate_limited=False,
    ),
    Operation(
        "GET",
        "/web/{asset}",
        webpage.asset,
        "getWebAsset",
        "A script or style sheet of the web page or the dashboard",
        "web",
        {200: Reply("The file.", schema={"type": "string"}, media_type="*/*")},
        errors=(404,),
        rate_limited=False,
        params=(Param("asset", "path", {"type": "string", "enum": sorted(webpage.ASSETS)}, "File name."),),
    ),
]


def openapi_document(operations: list[Operation], version: str, max_upload_bytes: int) -> dict[str, Any]:
    """The document, with the limits that come from settings filled in."""

    def fill(node: Any) -> Any:
        if node == MAX_UPLOAD:
            return max_upload_bytes
        if isinstance(node, dict):
            return {key: fill(value) for key, value in node.items()}
        if isinstance(node, list):
            return [fill(value) for value in node]
        return node

    return dict(fill(document(operations, "vodkit gateway", version)))
