"""Videos that have ended (deleted, or failed), as each service heard it, so late work writes nothing.

Events reach each service on queues of its own, so a `rendition.ready` may be handled after the
`video.deleted` of its video, and a transcode may still be running when its video is deleted. Each
service that writes a video's objects keeps its own record of the videos that ended, fed by
`video.deleted` and `video.failed` (`subscribe_to_endings`), and:
- checks it before starting work for a video, and drops the work if the video ended;
- checks it again after writing, and removes what it wrote if the video ended meanwhile;
- on the event itself, stops what it is doing for the video and removes the objects it owns.

Whichever order the events come in, no object outlives its video.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import BaseModel

from vodkit_shared.bus import MessageBus, Subscription
from vodkit_shared.events import Envelope, VideoDeleted, VideoFailed
from vodkit_shared.metadata import Collection, Document, DuplicateKey

Ending = Literal["deleted", "failed"]
OnEnd = Callable[[str, Ending], Awaitable[None]]
OBJECT_KINDS = ("hls", "artwork", "renditions", "originals", "uploads")  # every object is `{kind}/{videoId}/…`


def object_prefixes(video_id: str) -> list[str]:
    """The prefixes under which every object of the video lives."""
    return [f"{kind}/{video_id}/" for kind in OBJECT_KINDS]


class EndedVideo(BaseModel):
    video_id: str
    ending: Ending
    at: float


class EndedVideos:
    """One service's record of ended videos (a collection of its own, `{service}_ended`)."""

    def __init__(self, collection: Collection, clock: Callable[[], float] = time.time) -> None:
        self._c = collection
        self._clock = clock

    async def record(self, video_id: str, ending: Ending) -> None:
        """Note that the video ended; a deletion outranks a failure, and nothing undoes a deletion."""
        entry = EndedVideo(video_id=video_id, ending=ending, at=self._clock())
        try:
            await self._c.insert(video_id, entry.model_dump())
        except DuplicateKey:

            def outrank(doc: Document) -> Document | None:
                return entry.model_dump() if ending == "deleted" and doc["ending"] != "deleted" else None

            await self._c.update(video_id, outrank)

    async def ending(self, video_id: str) -> Ending | None:
        doc = await self._c.get(video_id)
        return EndedVideo.model_validate(doc).ending if doc else None

    async def ended(self, video_id: str) -> bool:
        return await self.ending(video_id) is not None

    async def deleted(self) -> set[str]:
        """Every video recorded as deleted."""
        return {doc["video_id"] for doc in await self._c.find("ending", "deleted")}


def ending_of(envelope: Envelope) -> Ending:
    return "deleted" if envelope.type == VideoDeleted.TYPE else "failed"


async def subscribe_to_endings(
    bus: MessageBus, service: str, ended: EndedVideos, on_end: OnEnd, *, failures: bool = True
) -> None:
    """Record `video.deleted` (and `video.failed`, unless `failures` is off), then run `on_end`."""

    async def handle(envelope: Envelope) -> None:
        ending = ending_of(envelope)
        await ended.record(envelope.video_id, ending)
        await on_end(envelope.video_id, ending)

    types = (VideoDeleted.TYPE, VideoFailed.TYPE) if failures else (VideoDeleted.TYPE,)
    for event_type in types:
        await bus.subscribe(Subscription(service, event_type, handle))
