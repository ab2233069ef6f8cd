"""In-process event bus (``memory://``): one process, no server.

``publish`` fans out directly to the local subscribers. The payload still goes through the
same JSON encoding and size check as on the server backends, and subscribers receive a
decoded copy, so code that works here behaves the same on PostgreSQL or Redis.
"""

from __future__ import annotations

from billgate.events.bus import BusBase, encode_message
from billgate.events.fanout import Payload


class MemoryEventBus(BusBase):
    async def publish(self, topic: str, payload: Payload) -> None:
        data = encode_message(topic, payload)
        self._check_running()
        self._deliver_raw(data, "memory")
