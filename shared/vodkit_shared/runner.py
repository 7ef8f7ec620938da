"""Running one service as its own process (`python -m vodkit_<service>`, `vodkit serve`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from aiohttp import web

from vodkit_shared.logs import configure_logging
from vodkit_shared.settings import CommonSettings

S = TypeVar("S", bound=CommonSettings)


def serve_main(create_app: Callable[[S], web.Application], settings: S) -> None:
    configure_logging(settings.log_level)
    web.run_app(
        create_app(settings), host=settings.host, port=settings.port, access_log=None, print=None, handle_signals=True
    )
