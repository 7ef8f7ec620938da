"""The packager's typed app keys: what `app.py` wires."""

from __future__ import annotations

from aiohttp import web

from vodkit_packager.packages import Packages
from vodkit_packager.settings import PackagerSettings
from vodkit_packager.subtitles import Subtitles
from vodkit_packager.worker import Packager
from vodkit_shared.lifecycle import EndedVideos

SETTINGS = web.AppKey("packager_settings", PackagerSettings)
PACKAGES = web.AppKey("packages", Packages)
ENDED = web.AppKey("packager_ended", EndedVideos)
PACKAGER = web.AppKey("packager", Packager)
SUBTITLES = web.AppKey("packager_subtitles", Subtitles)
