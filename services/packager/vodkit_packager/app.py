"""Wiring of the packager: one cleanup context per part it runs.

| part | what |
|---|---|
| `_scratch` | removes the scratch directories that killed packagers left (`vodkit_shared.scratch`) |
| `_domain` | the packages, the record of ended videos, the content keys and the `Packager` both consumers call |
| `_renditions` | consumer of `rendition.ready`: `Packager.on_rendition_ready` |
| `_endings` | consumer of `video.deleted` / `video.failed`: `Packager.on_video_ended` |
| `_subtitles` | consumers of `subtitles.added` / `subtitles.removed`: `Subtitles` (subtitles.py) |
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from vodkit_packager.errors import PackagingRefused
from vodkit_packager.hls import FORMATS
from vodkit_packager.keys import ENDED, PACKAGER, PACKAGES, SETTINGS, SUBTITLES
from vodkit_packager.packages import Packages
from vodkit_packager.settings import PackagerSettings
from vodkit_packager.subtitles import Subtitles, SubtitleSets
from vodkit_packager.worker import SCRATCH_PREFIX, Packager
from vodkit_shared.bus import Subscription
from vodkit_shared.captions import CaptionError
from vodkit_shared.content_keys import ContentKeys, KeySealer
from vodkit_shared.events import RenditionReady, SubtitlesAdded, SubtitlesRemoved
from vodkit_shared.failures import report_failure
from vodkit_shared.lifecycle import EndedVideos, subscribe_to_endings
from vodkit_shared.scratch import sweep_abandoned
from vodkit_shared.service import BUS, METADATA, STORAGE, service_app, with_resources

NAME = "packager"


def create_app(settings: PackagerSettings) -> web.Application:
    app = service_app(NAME)
    app[SETTINGS] = settings
    with_resources(app, settings)
    app.cleanup_ctx.extend([_scratch, _domain, _renditions, _endings, _subtitles])
    return app


async def _scratch(app: web.Application) -> AsyncIterator[None]:
    await sweep_abandoned(SCRATCH_PREFIX, app[SETTINGS].work_dir)
    yield


async def _domain(app: web.Application) -> AsyncIterator[None]:
    app[PACKAGES] = Packages(app[METADATA].collection("packages"))
    app[ENDED] = EndedVideos(app[METADATA].collection("packager_ended"))
    settings = app[SETTINGS]
    keys = ContentKeys(
        app[METADATA].collection("content_keys"), KeySealer.from_setting(settings.resolved_content_key())
    )
    sets = SubtitleSets(app[METADATA].collection("packager_subtitles"))
    fmt = FORMATS[settings.segment_format]
    app[SUBTITLES] = subtitles = Subtitles(
        app[STORAGE], app[BUS], app[PACKAGES], sets, app[ENDED], fmt, settings.work_dir
    )
    app[PACKAGER] = Packager(app[STORAGE], app[BUS], app[PACKAGES], app[ENDED], settings, keys, subtitles)
    yield


async def _renditions(app: web.Application) -> AsyncIterator[None]:
    bus = app[BUS]
    handler, on_give_up = app[PACKAGER].on_rendition_ready, report_failure(bus, NAME)
    await bus.subscribe(Subscription(NAME, RenditionReady.TYPE, handler, on_give_up, refusals=(PackagingRefused,)))
    yield


async def _endings(app: web.Application) -> AsyncIterator[None]:
    await subscribe_to_endings(app[BUS], NAME, app[ENDED], app[PACKAGER].on_video_ended)
    yield


async def _subtitles(app: web.Application) -> AsyncIterator[None]:
    """A subtitle change that fails is retried, then dead-lettered; it never fails its video."""
    subtitles = app[SUBTITLES]
    for event_type, handler in (
        (SubtitlesAdded.TYPE, subtitles.on_added),
        (SubtitlesRemoved.TYPE, subtitles.on_removed),
    ):
        await app[BUS].subscribe(Subscription(NAME, event_type, handler, refusals=(CaptionError,)))
    yield
