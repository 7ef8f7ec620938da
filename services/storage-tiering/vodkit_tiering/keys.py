"""The storage-tiering service's typed app keys: what `app.py` wires."""

from __future__ import annotations

from aiohttp import web

from vodkit_shared.lifecycle import EndedVideos
from vodkit_tiering.orphans import OrphanSweep
from vodkit_tiering.settings import TieringSettings
from vodkit_tiering.tiering import Tiering

SETTINGS = web.AppKey("tiering_settings", TieringSettings)
ENDED = web.AppKey("tiering_ended", EndedVideos)
ORPHANS = web.AppKey("orphans", OrphanSweep)
TIERING = web.AppKey("tiering", Tiering)
