"""Handling `rendition.ready`: package the rung; when the ladder is whole, write the master.

`Packages` (packages.py) records each packaged rung with a compare-and-set, so concurrent
packagers agree on when the ladder is complete; the master and `package.done` (stable id)
may be written twice, identically, never half.

A video that ended (deleted, or failed before it was packaged) gets nothing more: a late
`rendition.ready` is dropped, and one being packaged when the video ended removes what it wrote.
A retried video's renditions come again under the retry's run (`lifecycle.EndedVideos.ended_for`).
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter, Histogram

from vodkit_packager.encryption import encrypt_rendition
from vodkit_packager.errors import UnservableRung
from vodkit_packager.hls import (
    FORMATS,
    INIT_SEGMENT,
    PLAYLIST,
    Variant,
    describe_variant,
    first_pts,
    master_playlist,
    segment,
)
from vodkit_packager.packages import Packages
from vodkit_packager.settings import PackagerSettings
from vodkit_packager.subtitles import MasterWritten, Subtitles
from vodkit_shared.bus import MessageBus
from vodkit_shared.content_keys import ContentKeys
from vodkit_shared.events import Envelope, PackageDone, RenditionReady, VideoPlayable, stable_event_id
from vodkit_shared.lifecycle import EndedVideos, Ending
from vodkit_shared.rungs import is_rung_name
from vodkit_shared.scratch import scratch_dir
from vodkit_shared.storage import ObjectStorage

log = logging.getLogger(__name__)
SCRATCH_PREFIX = "vodkit-package-"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
PACKAGE_SECONDS = Histogram(
    "vodkit_package_rung_duration_seconds",
    "Packaging one rendition: fetch, segment, store its segments and playlist",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
PUBLISHED = Counter("vodkit_videos_published_total", "Videos packaged whole and announced (package.done)")


def hls_prefix(video_id: str) -> str:
    return f"hls/{video_id}/"


class Packager:
    def __init__(
        self,
        storage: ObjectStorage,
        bus: MessageBus,
        packages: Packages,
        ended: EndedVideos,
        settings: PackagerSettings,
        content_keys: ContentKeys,
        subtitles: Subtitles | None = None,
    ) -> None:
        self._storage = storage
        self._content_keys = content_keys
        self._subtitles = subtitles  # the master lists the video's subtitle tracks (subtitles.py)
        self._bus = bus
        self._packages = packages
        self._ended = ended
        self._settings = settings
        self._format = FORMATS[settings.segment_format]

    async def on_rendition_ready(self, envelope: Envelope) -> None:
        ready = envelope.payload(RenditionReady)
        if not is_rung_name(ready.rung):  # the gateway would not serve it: a master listing it would not play
            raise UnservableRung(f"the packager cannot serve a rung named {ready.rung!r}")
        video_id = envelope.video_id
        await self._ended.reopen_for(envelope)  # a retry's rendition: a late failure of the run before ends nothing
        if await self._ended.ended_for(envelope):
            log.info("rendition of an ended video dropped", extra={"videoId": video_id, "rung": ready.rung})
            return
        package = await self._packages.get(video_id)
        if package is not None and package.done:  # a duplicate, under its own id or another: nothing to redo
            log.info("rendition of a packaged video dropped", extra={"videoId": video_id, "rung": ready.rung})
            return
        if package is None or ready.rung not in package.variants:
            started = time.monotonic()
            variant = await self._package(video_id, ready)
            PACKAGE_SECONDS.observe(time.monotonic() - started)
            package = await self._packages.record_variant(video_id, ready.ladder, variant)
        if package.has_every(ready.ladder):
            await self._publish_master(envelope, ready, list(package.variants.values()))
        if await self._ended.ended_for(envelope):  # it ended while we wrote: what we wrote goes too
            await self.discard(video_id)

    async def on_video_ended(self, video_id: str, ending: Ending) -> None:
        """Remove the video's HLS, unless it is a packaged video that failed later (it stays playable)."""
        package = await self._packages.get(video_id)
        if ending == "deleted" or package is None or not package.done:
            await self.discard(video_id)

    async def discard(self, video_id: str) -> None:
        await self._storage.delete_prefix(hls_prefix(video_id))
        await self._packages.delete(video_id)
        if self._subtitles is not None:
            await self._subtitles.forget(video_id)

    async def _package(self, video_id: str, ready: RenditionReady) -> Variant:
        async with scratch_dir(SCRATCH_PREFIX, self._settings.work_dir) as work:  # a killed packager's is swept
            rendition, out_dir = work / "rendition.mp4", work / ready.rung
            await self._storage.get_file(ready.key, rendition)
            segments = await segment(rendition, out_dir, ready.segment_seconds, self._format)
            init = out_dir / INIT_SEGMENT if self._format.name == "fmp4" else None
            start = await first_pts(out_dir / segments[0].name, init, work)  # while the segments are clear
            if policy := await self._content_keys.policy(video_id):
                await encrypt_rendition(video_id, out_dir, out_dir / PLAYLIST, segments, self._content_keys, policy)
            variant = (await describe_variant(ready.rung, rendition, out_dir, segments)).model_copy(
                update={"first_pts": start}
            )
            prefix = f"{hls_prefix(video_id)}{ready.rung}/"
            if self._format.name == "fmp4":
                await self._storage.put_file(prefix + INIT_SEGMENT, out_dir / INIT_SEGMENT, "video/mp4")
            for seg in segments:
                await self._storage.put_file(prefix + seg.name, out_dir / seg.name, self._format.content_type)
            await self._storage.put_file(prefix + PLAYLIST, out_dir / PLAYLIST, PLAYLIST_TYPE)
            return variant

    async def _publish_master(self, envelope: Envelope, ready: RenditionReady, variants: list[Variant]) -> None:
        prefix = hls_prefix(envelope.video_id)
        master_key = prefix + "master.m3u8"
        master, subtitles = await self._master(envelope.video_id, variants)
        await self._storage.put_bytes(master_key, master.encode(), PLAYLIST_TYPE)
        done = PackageDone(
            master_key=master_key,
            prefix=prefix,
            renditions=[v.rung for v in variants],
            duration_seconds=ready.duration_seconds,
        )
        if await self._ended.ended_for(envelope):
            return  # on_rendition_ready discards what was written
        playable = VideoPlayable(stage="ladder", master_key=master_key, renditions=done.renditions)
        for event in (playable, done):  # each with an id of its own, one per run
            event_id = stable_event_id(event.TYPE, envelope.video_id, envelope.correlation_id)
            await self._bus.publish(envelope.follow(event, event_id))
        await self._packages.mark_done(envelope.video_id)
        if self._subtitles is not None and subtitles is not None:  # tracks added while it was written: again
            await self._subtitles.announce(envelope, subtitles)
        PUBLISHED.inc()
        log.info("package done", extra={"videoId": envelope.video_id, "renditions": done.renditions})

    async def _master(self, video_id: str, variants: list[Variant]) -> tuple[str, MasterWritten | None]:
        if self._subtitles is None:
            return master_playlist(variants, self._format), None
        return await self._subtitles.master(video_id, variants)
