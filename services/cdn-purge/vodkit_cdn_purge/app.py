"""Wiring of cdn-purge. For now a thin consumer: it subscribes to what changes public URLs
(`package.done`) and logs it. It calls no CDN yet (issue 6)."""

from aiohttp import web

from vodkit_shared.events import PackageDone
from vodkit_shared.settings import CommonSettings
from vodkit_shared.witness import witness_app

NAME = "cdn-purge"


def create_app(settings: CommonSettings) -> web.Application:
    return witness_app(NAME, settings, [PackageDone.TYPE])
