"""The message bus port and its adapters."""

from vodkit_shared.bus.factory import open_bus
from vodkit_shared.bus.port import MessageBus, PermanentError, RetryPolicy, Subscription

__all__ = ["MessageBus", "PermanentError", "RetryPolicy", "Subscription", "open_bus"]
