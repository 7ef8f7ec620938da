"""The message bus port and its adapters."""

from vodkit_shared.bus.factory import open_bus
from vodkit_shared.bus.port import BusUnavailable, MessageBus, PermanentError, RetryPolicy, Subscription

__all__ = ["BusUnavailable", "MessageBus", "PermanentError", "RetryPolicy", "Subscription", "open_bus"]
