"""Wiring of storage-tiering. For now a thin consumer: it subscribes to what it will act on
(`package.done`: new objects to catalogue) and logs it. It moves nothing yet (issue 6)."""

from aiohttp import web

from vodkit_shared.events import PackageDone
from vodkit_shared.settings import CommonSettings
from vodkit_shared.witness import witness_app

NAME = "storage-tiering"


def create_app(settings: CommonSettings) -> web.Application:
    return witness_app(NAME, settings, [PackageDone.TYPE])
