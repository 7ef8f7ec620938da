"""Subtitle tracks of a video: add (WebVTT or SRT), list, remove.

The gateway never writes the object store: it validates the file (`vodkit_shared.captions`, a 400
for anything it cannot use), converts it to WebVTT, notes the track in the video's record
(`processing`) and hands the whole track to the packager in `subtitles.added`, answering 202 only once
the bus has confirmed the event. The packager segments it and rewrites the master; its
`subtitles.published` marks the track `ready` (`videos.project`). A track may be added while the video
uploads or processes (cues past its end are clipped when published) or once it is completed (then
every cue must end within the video). Each change counts up the video's `subtitle_revision`, which
its event carries, so the packager can tell a stale change from a newer one.
"""

from __future__ import annotations

import asyncio
import re
from typing import Literal

from aiohttp import web
from pydantic import Field

from vodkit_gateway.api import reply
from vodkit_gateway.auth import owned_video, viewable_video
from vodkit_gateway.forms import read_form, text
from vodkit_gateway.keys import SETTINGS, VIDEOS
from vodkit_gateway.schemas import Body
from vodkit_gateway.videos import SubtitleState, SubtitleTrack, VideoRecord
from vodkit_shared import captions
from vodkit_shared.events import Envelope, Event, SubtitlesAdded, SubtitlesRemoved, retry_correlation, stable_event_id
from vodkit_shared.service import BUS, ApiError

LANGUAGE = captions.LANGUAGE_PATTERN
# an HLS quoted-string: no '"', no control character (C0, DEL, C1) and no line break of any kind: hls.js
# reads attributes with JavaScript's `.`, which stops at U+2028 and U+2029 too. One pattern for the
# check and the OpenAPI document, so schemathesis and the gateway agree.
LABEL_PATTERN = r'^[^"\u0000-\u001f\u007f-\u009f\u2028\u2029]+$'
MAX_LABEL = 64


class SubtitleForm(Body):
    """`POST /api/videos/{videoId}/subtitles`, multipart/form-data."""

    file: bytes = Field(
        description="The subtitles: WebVTT or SRT, UTF-8, at most VODKIT_MAX_SUBTITLE_BYTES (512 KiB).",
        json_schema_extra={"format": "binary"},
    )
    language: str = Field(
        pattern=f"^{LANGUAGE}$", description="BCP 47 language tag, e.g. `en`, `pt-BR`, `zh-Hans`, `es-419`."
    )
    label: str = Field(
        min_length=1, max_length=MAX_LABEL, pattern=LABEL_PATTERN, description="What players name it, e.g. English."
    )
    default: Literal["true", "false"] | None = Field(
        None, description="`true` makes it the default track; the first track is the default until another is."
    )


class SubtitleBody(Body):
    language: str = Field(description="BCP 47 language tag; one track per language.")
    label: str = Field(description="What players name it.")
    default: bool = Field(description="The track players show unasked (DEFAULT=YES in the master).")
    state: SubtitleState = Field(description="`ready` once the master lists this version of the track.")
    cues: int = Field(description="Cues in the track.")


class SubtitleList(Body):
    subtitles: list[SubtitleBody] = Field(description="By language.")


async def add_subtitles(request: web.Request) -> web.Response:
    video = await owned_video(request)
    if video.status == "failed":
        raise ApiError(409, "conflict", "the video failed: it has no stream to add subtitles to")
    settings = request.app[SETTINGS]
    form = await _read_form(request, settings.max_subtitle_bytes)
    language, label, default = _language(form), _label(form), _default(form)
    try:  # parsing 512 KiB takes a while: off the event loop
        cues = await asyncio.to_thread(captions.parse, form.get("file", b""), settings.max_subtitle_bytes)
        if video.status == "completed" and video.duration_s is not None:
            captions.check_within(cues, video.duration_s)
        captions.check_repeats(cues)
    except captions.CaptionError as error:  # its size was bounded as it was read (413)
        raise ApiError(400, "bad_subtitles", str(error)) from None
    webvtt = await asyncio.to_thread(captions.to_webvtt, cues)
    if len(webvtt.encode()) > settings.max_subtitle_bytes:
        raise ApiError(413, "too_large", f"as WebVTT the subtitles exceed {settings.max_subtitle_bytes} bytes")
    full = False
    named: str | None = None
    before = video

    def add(record: VideoRecord) -> VideoRecord | None:
        nonlocal full, named, before
        before = record
        if language not in record.subtitles and len(record.subtitles) >= settings.max_subtitle_tracks:
            full = True
            return None
        named = label_taken(record, language, label)
        if named is not None:
            return None
        revision = record.subtitle_revision + 1
        tracks = {
            lang: t.model_copy(update={"default": t.default and not default}) for lang, t in record.subtitles.items()
        }
        tracks[language] = SubtitleTrack(label=label, default=default, revision=revision, cues=len(cues))
        return record.model_copy(update={"subtitles": tracks, "subtitle_revision": revision})

    stored = await request.app[VIDEOS].change_subtitles(video.video_id, add)
    if full:
        raise ApiError(409, "conflict", f"a video may have at most {settings.max_subtitle_tracks} subtitle tracks")
    if named is not None:
        raise ApiError(409, "conflict", f"the {named} track is already named {label!r}: each needs a name of its own")
    if stored is None:
        raise ApiError(404, "not_found", "no such video")
    track = stored.subtitles[language]
    added = SubtitlesAdded(
        language=language, label=label, default=default, revision=track.revision, cues=len(cues), webvtt=webvtt
    )
    await _publish(request, stored, added, before)
    return reply(_body(stored, language), status=202)


async def list_subtitles(request: web.Request) -> web.Response:
    video, _ = await viewable_video(request)
    return reply(SubtitleList(subtitles=[_body(video, language) for language in sorted(video.subtitles)]))


async def delete_subtitles(request: web.Request) -> web.Response:
    video = await owned_video(request)
    language = request.match_info["language"]
    if language not in video.subtitles:
        raise ApiError(404, "not_found", f"the video has no {language} subtitles")

    before = video

    def remove(record: VideoRecord) -> VideoRecord | None:
        nonlocal before
        before = record
        if language not in record.subtitles:
            return None
        tracks = {lang: t for lang, t in record.subtitles.items() if lang != language}
        return record.model_copy(update={"subtitles": tracks, "subtitle_revision": record.subtitle_revision + 1})

    stored = await request.app[VIDEOS].change_subtitles(video.video_id, remove)
    if stored is None or language in stored.subtitles:
        raise ApiError(404, "not_found", f"the video has no {language} subtitles")
    removed = SubtitlesRemoved(language=language, revision=stored.subtitle_revision)
    await _publish(request, stored, removed, before)
    return web.Response(status=204)


async def _publish(request: web.Request, video: VideoRecord, event: Event, before: VideoRecord) -> None:
    """Publish `video`'s latest subtitle change (confirmed by the broker) under the video's current run.

    If the bus refuses it, the tracks go back to what they were `before` the change (a replaced track's
    previous version, cleared default flags, a removed track), unless another change came since: no
    track waits for an event that was not sent, and none the master lists goes missing from the list."""
    revision = video.subtitle_revision
    event_id = stable_event_id(event.TYPE, video.video_id, str(revision))
    envelope = Envelope.wrap(
        event, video_id=video.video_id, correlation_id=retry_correlation(video.video_id, video.run), event_id=event_id
    )
    try:
        await request.app[BUS].publish(envelope)
    except Exception:
        await request.app[VIDEOS].change_subtitles(video.video_id, lambda r: _rolled_back(r, before, revision))
        raise


def label_taken(record: VideoRecord, language: str, label: str) -> str | None:
    """The other language already named `label`, if any: the master's NAMEs in a group must differ
    (RFC 8216 4.3.4.1.1). Replacing a language's own track under its own name is fine."""
    return next((lang for lang, t in sorted(record.subtitles.items()) if lang != language and t.label == label), None)


def _rolled_back(record: VideoRecord, before: VideoRecord, revision: int) -> VideoRecord | None:
    """`record`'s tracks as they were `before`, while `revision` is still its latest change.

    The revision counter stays: the refused event may have reached the broker after all, and a later
    change must not reuse its revision (the packager would drop it as a duplicate)."""
    if record.subtitle_revision != revision:
        return None
    return record.model_copy(update={"subtitles": before.subtitles})


def _body(video: VideoRecord, language: str) -> SubtitleBody:
    track = video.subtitles[language]
    default = captions.default_language({lang: (t.revision, t.default) for lang, t in video.subtitles.items()})
    return SubtitleBody(
        language=language, label=track.label, default=language == default, state=track.state, cues=track.cues
    )


async def _read_form(request: web.Request, max_file_bytes: int) -> dict[str, bytes]:
    """The form's fields, each read within its bound (`forms.read_form`)."""
    send = "send a multipart/form-data body (file, language, label)"
    too_large = f"the form's file may be at most {max_file_bytes} bytes"
    return await read_form(request, tuple(SubtitleForm.model_fields), max_file_bytes, send, too_large)


def _language(form: dict[str, bytes]) -> str:
    language = text(form, "language")
    if language is None or not re.fullmatch(LANGUAGE, language):
        raise ApiError(400, "bad_request", "language: a BCP 47 tag such as en, pt-BR, zh-Hans or es-419")
    return language


def _label(form: dict[str, bytes]) -> str:
    label = text(form, "label")
    if label is None or len(label) > MAX_LABEL or not re.fullmatch(LABEL_PATTERN, label):
        raise ApiError(
            400, "bad_request", f"label: 1 to {MAX_LABEL} characters, no '\"', no control character and no line break"
        )
    return label


def _default(form: dict[str, bytes]) -> bool:
    value = text(form, "default")
    if value not in (None, "true", "false"):
        raise ApiError(400, "bad_request", "default: true or false")
    return value == "true"
