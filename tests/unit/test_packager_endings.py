"""The packager and ended videos: a late rendition writes nothing, and one that races the end removes what it wrote."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from tests.support import eventually
from tests.unit.conftest import Adapters
from vodkit_packager.hls import Variant
from vodkit_packager.packages import Packages
from vodkit_packager.settings import PackagerSettings
from vodkit_packager.worker import Packager
from vodkit_shared.content_keys import ContentKeys
from vodkit_shared.events import Envelope, PackageDone, RenditionReady, retry_correlation
from vodkit_shared.lifecycle import EndedVideos
from vodkit_shared.storage import ObjectStorage

pytestmark = pytest.mark.unit
VIDEO = "v1"


class FakePackager(Packager):
    """Packages without ffmpeg: one playlist object per rung; `hold` lets a test end the video mid-way."""

    hold: asyncio.Event | None = None

    async def _package(self, video_id: str, ready: RenditionReady) -> Variant:
        await self._storage.put_bytes(f"hls/{video_id}/{ready.rung}/playlist.m3u8", b"#EXTM3U\n")
        if self.hold is not None:
            await self.hold.wait()
        return Variant(rung=ready.rung, width=1280, height=720, bandwidth=1, average_bandwidth=1, codecs="avc1")


@dataclass
class Rig:
    packager: FakePackager
    storage: ObjectStorage
    ended: EndedVideos
    done: list[Envelope]


@pytest.fixture
async def rig(adapters: Adapters) -> Rig:
    done = await adapters.heard(PackageDone.TYPE)
    ended = EndedVideos(adapters.metadata.collection("packager_ended"))
    packages = Packages(adapters.metadata.collection("packages"))
    keys = ContentKeys(adapters.metadata.collection("content_keys"))
    packager = FakePackager(adapters.storage, adapters.bus, packages, ended, PackagerSettings(), keys)
    return Rig(packager, adapters.storage, ended, done)


def ready(rung: str = "720p") -> Envelope:
    event = RenditionReady(
        rung=rung,
        key=f"renditions/{VIDEO}/{rung}.mp4",
        width=1280,
        height=720,
        ladder=["720p"],
        segment_seconds=6,
        duration_seconds=8.0,
    )
    return Envelope.wrap(event, video_id=VIDEO)


async def test_a_rendition_of_a_deleted_video_writes_nothing(rig: Rig) -> None:
    await rig.ended.record(VIDEO, "deleted")
    await rig.packager.on_rendition_ready(ready())
    assert await rig.storage.keys(f"hls/{VIDEO}/") == []
    assert rig.done == []


async def test_a_video_that_ends_while_it_is_packaged_keeps_nothing(rig: Rig) -> None:
    rig.packager.hold = asyncio.Event()
    packaging = asyncio.create_task(rig.packager.on_rendition_ready(ready()))

    async def written() -> bool:
        return bool(await rig.storage.keys(f"hls/{VIDEO}/"))

    await eventually(written)
    await rig.ended.record(VIDEO, "deleted")
    await rig.packager.on_video_ended(VIDEO, "deleted")
    rig.packager.hold.set()
    await packaging
    assert await rig.storage.keys(f"hls/{VIDEO}/") == []
    await asyncio.sleep(0.1)
    assert rig.done == []


async def test_a_packaged_video_that_fails_later_stays_playable_until_it_is_deleted(rig: Rig) -> None:
    await rig.packager.on_rendition_ready(ready())
    assert f"hls/{VIDEO}/master.m3u8" in await rig.storage.keys(f"hls/{VIDEO}/")
    await rig.ended.record(VIDEO, "failed")
    await rig.packager.on_video_ended(VIDEO, "failed")
    assert f"hls/{VIDEO}/master.m3u8" in await rig.storage.keys(f"hls/{VIDEO}/")
    await rig.ended.record(VIDEO, "deleted")
    await rig.packager.on_video_ended(VIDEO, "deleted")
    assert await rig.storage.keys(f"hls/{VIDEO}/") == []


async def test_a_duplicate_rendition_of_a_packaged_video_redoes_nothing(rig: Rig) -> None:
    """A duplicate rendition.ready (the same id, or a re-run's new one) rewrote the master, republished
    package.done and so purged the CDN again."""
    await rig.packager.on_rendition_ready(ready())
    await eventually(lambda: len(rig.done) == 1)
    master = f"hls/{VIDEO}/master.m3u8"
    await rig.storage.delete(master)  # so that a rewrite would show
    duplicate = ready()
    await rig.packager.on_rendition_ready(duplicate)
    await rig.packager.on_rendition_ready(duplicate)
    sentinel = PackageDone(master_key="m", prefix="p", renditions=[], duration_seconds=1)
    await rig.packager._bus.publish(Envelope.wrap(sentinel, video_id="later"))  # one queue, in order
    await eventually(lambda: rig.done[-1].video_id == "later")
    assert master not in await rig.storage.keys(f"hls/{VIDEO}/")
    assert [e.video_id for e in rig.done] == [VIDEO, "later"]


async def test_a_failed_runs_late_failure_cannot_end_the_retry_it_hears_after(rig: Rig) -> None:
    """Heard before `video.retried`, the retry's first rendition left the video open to a late `video.failed`
    of the failed run, which discarded the retry's HLS and left it `processing` for ever."""
    await rig.ended.record(VIDEO, "failed", run=0)
    retry = ready().model_copy(update={"correlation_id": retry_correlation(VIDEO, 1)})
    await rig.packager.on_rendition_ready(retry)  # its video.retried has not come yet
    await eventually(lambda: [e.correlation_id for e in rig.done] == [retry_correlation(VIDEO, 1)])
    assert not await rig.ended.record(VIDEO, "failed", run=0)  # the failed run's, again: stale, nothing ends
    assert await rig.storage.keys(f"hls/{VIDEO}/") != []
