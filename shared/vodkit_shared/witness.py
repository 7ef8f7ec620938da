"""A handler that only logs what it receives, for services that subscribe before they act."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from vodkit_shared.bus import Subscription
from vodkit_shared.bus.port import Handler
from vodkit_shared.events import Envelope
from vodkit_shared.service import BUS, service_app, with_resources
from vodkit_shared.settings import CommonSettings

log = logging.getLogger("vodkit.witness")


def log_event(service: str) -> Handler:
    async def handle(envelope: Envelope) -> None:
        log.info(
            "event received",
            extra={
                "service": service,
                "eventType": envelope.type,
                "eventId": str(envelope.id),
                "videoId": envelope.video_id,
                "data": envelope.data,
            },
        )

    return handle


def witness_app(name: str, settings: CommonSettings, event_types: list[str]) -> web.Application:
    """A service app that subscribes to `event_types` and logs each event: nothing more."""
    app = service_app(name)
    with_resources(app, settings, storage=False, metadata=False)

    async def wire(app: web.Application) -> AsyncIterator[None]:
        for event_type in event_types:
            await app[BUS].subscribe(Subscription(name, event_type, log_event(name)))
        yield

    app.cleanup_ctx.append(wire)
    return app
