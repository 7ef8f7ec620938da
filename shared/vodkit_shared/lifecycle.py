"""Videos that have ended (deleted, or failed), as each service heard it, so late work writes nothing.

Events reach each service on queues of its own, so a `rendition.ready` may be handled after the
`video.deleted` of its video, and a transcode may still be running when its video is deleted. Each
service that writes a video's objects keeps its own record of the videos that ended, fed by
`video.deleted` and `video.failed` (`subscribe_to_endings`), and:
- checks it before starting work for a video, and drops the work if the video ended;
- checks it again after writing, and removes what it wrote if the video ended meanwhile;
- on the event itself, stops what it is doing for the video and removes the objects it owns.
An admin's retry of a failed video (`video.retried`) reopens it for the run it starts.

Whichever order the events come in, no object outlives its video.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import BaseModel

from vodkit_shared.bus import MessageBus, Subscription
from vodkit_shared.bus.port import Handler
from vodkit_shared.events import Envelope, VideoDeleted, VideoFailed, VideoRetried, run_of
from vodkit_shared.metadata import Collection, Document, DuplicateKey

Ending = Literal["deleted", "failed"]
OnEnd = Callable[[str, Ending], Awaitable[None]]
OBJECT_KINDS = ("hls", "artwork", "renditions", "originals", "uploads")  # every object is `{kind}/{videoId}/…`


def object_prefixes(video_id: str) -> list[str]:
    """The prefixes under which every object of the video lives."""
    return [f"{kind}/{video_id}/" for kind in OBJECT_KINDS]


class EndedVideo(BaseModel):
    video_id: str
    ending: Ending | None  # None: it failed, then a retry reopened it
    at: float
    failed_run: int = -1  # the run (`events.run_of`) the latest failure ended; -1: none
    open_run: int = 0  # the latest retry heard: a failure of an earlier run is stale


class EndedVideos:
    """One service's record of ended videos (a collection of its own, `{service}_ended`).

    A failure ends one run of a video; an admin's retry (`video.retried`) starts the next, whose
    events carry the run in their correlation id. So a late event of the failed run is still dropped
    (`ended_for`), and a late `video.failed` of an earlier run is stale and ends nothing.
    """

    def __init__(self, collection: Collection, clock: Callable[[], float] = time.time) -> None:
        self._c = collection
        self._clock = clock

    async def record(self, video_id: str, ending: Ending, run: int = 0) -> bool:
        """Note that the video ended; a deletion outranks a failure, and nothing undoes a deletion.

        False if it is a failure of a run a retry has already replaced (nothing ends)."""
        failed_run = run if ending == "failed" else -1
        entry = EndedVideo(video_id=video_id, ending=ending, at=self._clock(), failed_run=failed_run)
        try:
            await self._c.insert(video_id, entry.model_dump())
            return True
        except DuplicateKey:
            pass
        stale = False

        def note(doc: Document) -> Document | None:
            nonlocal stale
            known = EndedVideo.model_validate(doc)
            if known.ending == "deleted":
                return None
            if ending == "deleted":
                return {**doc, "ending": "deleted", "at": entry.at}
            stale = run < known.open_run
            if stale or (known.ending == "failed" and run <= known.failed_run):
                return None
            return {**doc, "ending": "failed", "at": entry.at, "failed_run": run}

        await self._c.update(video_id, note)
        return not stale

    async def reopen(self, video_id: str, run: int) -> None:
        """A retry started `run`: the video's failure no longer ends it (a deletion still does)."""
        entry = EndedVideo(video_id=video_id, ending=None, at=self._clock(), open_run=run)
        try:
            await self._c.insert(video_id, entry.model_dump())
            return
        except DuplicateKey:
            pass

        def reopen(doc: Document) -> Document | None:
            known = EndedVideo.model_validate(doc)
            if known.ending == "deleted" or run <= known.open_run or run <= known.failed_run:
                return None
            return {**doc, "ending": None, "open_run": run}

        await self._c.update(video_id, reopen)

    async def reopen_for(self, envelope: Envelope) -> None:
        """Work of a retry's run is under way: reopen for that run, as its `video.retried` would (it may
        still be on its way), so that a late failure of the run before can no longer end it."""
        if (run := run_of(envelope.correlation_id)) > 0:
            await self.reopen(envelope.video_id, run)

    async def _entry(self, video_id: str) -> EndedVideo | None:
        doc = await self._c.get(video_id)
        return EndedVideo.model_validate(doc) if doc else None

    async def ending(self, video_id: str) -> Ending | None:
        entry = await self._entry(video_id)
        return entry.ending if entry else None

    async def ended(self, video_id: str) -> bool:
        return await self.ending(video_id) is not None

    async def ended_for(self, envelope: Envelope) -> bool:
        """Whether the work `envelope` asks for is over: its video deleted, or its run failed."""
        entry = await self._entry(envelope.video_id)
        if entry is None:
            return False
        return entry.ending == "deleted" or run_of(envelope.correlation_id) <= entry.failed_run

    async def deleted(self) -> set[str]:
        """Every video recorded as deleted."""
        return {doc["video_id"] for doc in await self._c.find("ending", "deleted")}


def ending_of(envelope: Envelope) -> Ending:
    return "deleted" if envelope.type == VideoDeleted.TYPE else "failed"


async def subscribe_to_endings(
    bus: MessageBus,
    service: str,
    ended: EndedVideos,
    on_end: OnEnd,
    *,
    failures: bool = True,
    on_retry: Handler | None = None,
) -> None:
    """Record `video.deleted` (and `video.failed`, unless `failures` is off), then run `on_end`.

    With failures, `video.retried` reopens the video before `on_retry` (if any) runs."""

    async def handle(envelope: Envelope) -> None:
        ending = ending_of(envelope)
        if await ended.record(envelope.video_id, ending, run_of(envelope.correlation_id)):
            await on_end(envelope.video_id, ending)

    async def reopen(envelope: Envelope) -> None:
        await ended.reopen(envelope.video_id, run_of(envelope.correlation_id))
        if on_retry is not None:
            await on_retry(envelope)

    types = (VideoDeleted.TYPE, VideoFailed.TYPE) if failures else (VideoDeleted.TYPE,)
    for event_type in types:
        await bus.subscribe(Subscription(service, event_type, handle))
    if failures:
        await bus.subscribe(Subscription(service, VideoRetried.TYPE, reopen))
