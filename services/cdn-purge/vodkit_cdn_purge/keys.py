"""The cdn-purge service's typed app keys: what `app.py` wires."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from vodkit_cdn_purge.purger import Purger
from vodkit_cdn_purge.settings import CdnPurgeSettings

SETTINGS = web.AppKey("cdn_purge_settings", CdnPurgeSettings)
HTTP_CLIENT = web.AppKey("cdn_http_client", aiohttp.ClientSession)
PURGER = web.AppKey("purger", Purger)
