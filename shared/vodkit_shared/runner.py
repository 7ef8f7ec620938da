"""Running one service as its own process (`python -m vodkit_<service>`, `vodkit serve`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from aiohttp import web

from vodkit_shared.access_log import ACCESS_LOG, AccessLine
from vodkit_shared.logs import logging_configured
from vodkit_shared.settings import CommonSettings

S = TypeVar("S", bound=CommonSettings)


def serve_main(create_app: Callable[[S], web.Application], settings: S) -> None:
    with logging_configured(settings):  # on exit, the log files' thread writes what is queued
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            access_log_class=AccessLine,
            access_log=ACCESS_LOG,
            print=None,
            handle_signals=True,
        )
