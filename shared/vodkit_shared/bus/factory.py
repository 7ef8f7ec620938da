"""Open the bus a URL names."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit, urlunsplit

from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.bus.port import MessageBus, RetryPolicy
from vodkit_shared.bus.rabbitmq import RabbitBus


async def open_bus(url: str, exchange: str = "vodkit", policy: RetryPolicy | None = None) -> MessageBus:
    """`memory://[name]`, or `amqp://user:pass@host:port/vhost[?queue_expiry_s=N]`."""
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return MemoryBus(parts.netloc, policy)
    if parts.scheme in ("amqp", "amqps"):
        expiry = parse_qs(parts.query).get("queue_expiry_s", [""])[0]
        broker_url = urlunsplit(parts._replace(query=""))
        bus = RabbitBus(broker_url, exchange, policy, int(expiry) if expiry else None)
        await bus.connect()
        return bus
    raise ValueError(f"unsupported bus URL scheme {parts.scheme!r} (use memory:// or amqp://)")
