"""Events: publish after commit, subscribe to topics (see ``billgate.events.bus``)."""

from billgate.events.bus import (
    MAX_MESSAGE_BYTES,
    EventBus,
    PublishError,
    create_bus,
)
from billgate.events.fanout import (
    DEFAULT_MAX_QUEUED,
    BusReconnected,
    Payload,
    SubscriberOverflow,
    Subscription,
)
from billgate.events.memory import MemoryEventBus

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "MAX_MESSAGE_BYTES",
    "BusReconnected",
    "EventBus",
    "MemoryEventBus",
    "Payload",
    "PublishError",
    "SubscriberOverflow",
    "Subscription",
    "create_bus",
]
