"""The status projection: each video's state as the API shows it, folded from every event.

Events reach the gateway on separate queues, so they can come out of order (a late
`transcode.progress` after `package.done`). `project` is written so that order does not matter:
status only moves forward (uploading → processing → completed | failed), progress never falls,
and a rung's state never goes back.

The one way back is an admin's retry of a failed video: it starts a new run (`events.run_of`, in
the correlation id), back in `processing`. Events of an earlier run change nothing any more; the
first event of a later run starts it, even if its `video.retried` is still on its way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from vodkit_shared.events import (
    ArtworkReady,
    Envelope,
    PackageDone,
    RenditionMeasured,
    RenditionReady,
    SubtitlesPublished,
    TranscodeProgress,
    VideoAssembled,
    VideoFailed,
    VideoPlayable,
    run_of,
)
from vodkit_shared.metadata import Collection, Document

Visibility = Literal["private", "unlisted", "public"]  # the owner only; anyone with the id; also listed
Encryption = Literal["none", "aes-128"]  # aes-128: segments encrypted, keys from the gateway (content_keys)
Status = Literal["uploading", "processing", "completed", "failed"]
Quality = Literal["processing", "ready", "failed"]  # the state of one rung
SubtitleState = Literal["processing", "ready"]  # a subtitle track waits for the master to list it
_RANK = {"uploading": 0, "processing": 1, "completed": 2, "failed": 2}
TRANSCODE_SHARE = 90  # progress points given to transcoding; packaging takes the rest


class MeasuredQuality(BaseModel):
    """How close a rung came to its source."""

    ssim: float
    psnr: float


class SubtitleTrack(BaseModel):
    """A subtitle track of the video, as its owner added it (subtitles_api.py)."""

    label: str
    default: bool  # the owner made it the default (`captions.default_language` says which one is)
    revision: int  # the video's subtitle revision of this change; the packager's events name it
    cues: int
    state: SubtitleState = "processing"  # ready once a master lists this revision (`subtitles.published`)


class VideoRecord(BaseModel):
    """A video as the `videos` collection stores it; the API's bodies (`schemas.py`) are made from it."""

    video_id: str
    owner: str
    filename: str
    size: int
    sha256: str | None = None  # declared by the uploader, verified at assembly
    visibility: Visibility = "private"
    downloadable: bool = False  # its renditions may be downloaded as MP4 files, under the playback token
    encryption: Encryption = "none"  # chosen at creation, for good
    status: Status = "uploading"
    progress: int = 0
    qualities: dict[str, Quality] = Field(default_factory=dict)
    error: str | None = None
    failed_stage: str | None = None  # the stage that gave up: upload, transcoder or packager
    attempts: int | None = None  # the tries it made, where the stage counts them
    run: int = 0  # 0 for the upload's; n after the nth retry
    duration_s: float | None = None
    quality: dict[str, MeasuredQuality] = Field(default_factory=dict)
    artwork: bool = False
    playable: bool = False  # its master plays: an early preview while processing, or the ladder
    subtitles: dict[str, SubtitleTrack] = Field(default_factory=dict)  # language → track
    subtitle_revision: int = 0  # counts subtitle changes, so the packager can tell a stale one
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)


def project(video: VideoRecord, envelope: Envelope) -> VideoRecord:
    """The record after `envelope`; a pure function of both."""
    v = video.model_copy(deep=True)
    run = run_of(envelope.correlation_id)
    if run < v.run:
        return v  # a run a retry has replaced
    if run > v.run:
        _start_run(v, run)
    final = v.status in ("completed", "failed")  # what is late for a finished video changes nothing of it
    if envelope.type == VideoAssembled.TYPE:
        _advance(v, "processing")
    elif envelope.type == TranscodeProgress.TYPE and not final:
        progress = envelope.payload(TranscodeProgress)
        _advance(v, "processing")
        for rung in progress.ladder:
            v.qualities.setdefault(rung, "processing")
        v.progress = max(v.progress, int(progress.percent * TRANSCODE_SHARE / 100))
    elif envelope.type == RenditionReady.TYPE and not final:
        ready = envelope.payload(RenditionReady)
        for rung in ready.ladder:
            v.qualities.setdefault(rung, "processing")
        v.progress = max(v.progress, TRANSCODE_SHARE)
    elif envelope.type == VideoPlayable.TYPE and not final:
        v.playable = True
    elif envelope.type == ArtworkReady.TYPE:
        v.artwork = True
    elif envelope.type == RenditionMeasured.TYPE:
        measured = envelope.payload(RenditionMeasured)
        v.quality[measured.rung] = MeasuredQuality(ssim=measured.ssim, psnr=measured.psnr)
    elif envelope.type == PackageDone.TYPE:
        done = envelope.payload(PackageDone)
        if _advance(v, "completed"):
            v.qualities = {rung: "ready" for rung in done.renditions}
            v.progress, v.duration_s = 100, done.duration_seconds
    elif envelope.type == SubtitlesPublished.TYPE:
        listed = {(t.language, t.revision) for t in envelope.payload(SubtitlesPublished).tracks}
        for language, track in v.subtitles.items():
            if (language, track.revision) in listed:
                track.state = "ready"
    elif envelope.type == VideoFailed.TYPE and _advance(v, "failed"):
        failed = envelope.payload(VideoFailed)
        v.error, v.failed_stage, v.attempts = failed.reason, failed.stage, failed.attempts
        v.qualities = {rung: ("ready" if q == "ready" else "failed") for rung, q in v.qualities.items()}
    v.updated_at = time.time()
    return v


def _start_run(video: VideoRecord, run: int) -> None:
    """A retry: back to `processing`, as if the video had just been assembled."""
    video.run, video.status, video.progress = run, "processing", 0
    video.error, video.failed_stage, video.attempts, video.qualities = None, None, None, {}
    video.playable = False
    video.subtitles = {}  # the packager dropped them with the failed run's HLS: they are added again


def _advance(video: VideoRecord, status: Status) -> bool:
    """Move forward to `status`; False if already there, further on, or in a final state."""
    if video.status in ("completed", "failed") or _RANK[status] < _RANK[video.status]:
        return False
    changed = video.status != status
    video.status = status
    return changed


class Videos:
    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def create(self, video: VideoRecord) -> None:
        await self._c.insert(video.video_id, video.model_dump())

    async def get(self, video_id: str) -> VideoRecord | None:
        doc = await self._c.get(video_id)
        return VideoRecord.model_validate(doc) if doc else None

    async def owned_by(self, owner: str) -> list[VideoRecord]:
        return sorted(map(VideoRecord.model_validate, await self._c.find("owner", owner)), key=_newest_first)

    async def public(self) -> list[VideoRecord]:
        found = map(VideoRecord.model_validate, await self._c.find("visibility", "public"))
        return sorted((v for v in found if v.status == "completed"), key=_newest_first)

    async def in_status(self, status: Status) -> list[VideoRecord]:
        return sorted(map(VideoRecord.model_validate, await self._c.find("status", status)), key=_newest_first)

    async def uploading(self) -> list[VideoRecord]:
        """Videos whose upload is not over (assembled, failed) yet."""
        return [VideoRecord.model_validate(doc) for doc in await self._c.find("status", "uploading")]

    async def change(
        self, video_id: str, visibility: Visibility | None = None, downloadable: bool | None = None
    ) -> VideoRecord | None:
        """Set what the owner may change (the fields given); the record as stored, None if there is none."""
        changes = {"visibility": visibility, "downloadable": downloadable}
        given = {field: value for field, value in changes.items() if value is not None}
        doc = await self._c.update(video_id, lambda doc: {**doc, **given, "updated_at": time.time()})
        return VideoRecord.model_validate(doc) if doc else None

    async def delete(self, video_id: str) -> bool:
        return await self._c.delete(video_id)

    async def change_subtitles(
        self, video_id: str, change: Callable[[VideoRecord], VideoRecord | None]
    ) -> VideoRecord | None:
        """Apply `change` (None: leave it) with a compare-and-set; the record as stored, None if there is none."""

        def apply(doc: Document) -> Document | None:
            changed = change(VideoRecord.model_validate(doc))
            return None if changed is None else {**changed.model_dump(), "updated_at": time.time()}

        doc = await self._c.update(video_id, apply)
        return VideoRecord.model_validate(doc) if doc else None

    async def on_event(self, envelope: Envelope) -> None:
        def change(doc: Document) -> Document:
            return project(VideoRecord.model_validate(doc), envelope).model_dump()

        await self._c.update(envelope.video_id, change)  # unknown videos are not ours: ignored


def _newest_first(video: VideoRecord) -> float:
    return -video.created_at
