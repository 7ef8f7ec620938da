"""The consumer: an event in, its stale paths purged on every node, `cdn.purged` out.

A purge that still fails after the provider's tries raises, so the bus retries the event with
growing delays and dead-letters it in the end; it is acked only once every node confirmed.
"""

from __future__ import annotations

import logging

from vodkit_cdn_purge.providers import CdnProvider
from vodkit_cdn_purge.stale_paths import stale_paths
from vodkit_shared.bus import MessageBus
from vodkit_shared.events import CdnPurged, Envelope, stable_event_id

log = logging.getLogger(__name__)


class Purger:
    def __init__(self, provider: CdnProvider | None, bus: MessageBus) -> None:
        self._provider = provider
        self._bus = bus

    async def on_event(self, envelope: Envelope) -> None:
        paths = stale_paths(envelope)
        if not paths:
            return
        if self._provider is None:
            log.info("no cache nodes configured: nothing purged", extra={"videoId": envelope.video_id, "paths": paths})
            return
        nodes = await self._provider.purge(paths)
        log.info("purged", extra={"videoId": envelope.video_id, "paths": paths, "nodes": nodes})
        purged = CdnPurged(paths=paths, nodes=nodes, cause=envelope.type)
        event_id = stable_event_id(CdnPurged.TYPE, envelope.video_id, str(envelope.id))
        await self._bus.publish(
            Envelope.wrap(purged, video_id=envelope.video_id, correlation_id=envelope.correlation_id, event_id=event_id)
        )
