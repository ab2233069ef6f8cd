"""A bus that keeps what billing announced after commit, for tests that check it."""

from __future__ import annotations

from typing import Any

from billgate.billing import items


class RecordingBus:
    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.messages.append((topic, payload))

    @property
    def item_events(self) -> list[items.ChangeEvent]:
        """The item changes announced, in order (``billing/publishing.py``'s topics)."""
        events = []
        for topic, payload in self.messages:
            kind, customer_type, customer_id, item_id = (topic.split(":", 3) + [""])[:4]
            if kind == "item":
                events.append(items.ChangeEvent(customer_type, customer_id, item_id,
                                                payload["quantity"], payload["version"],
                                                payload["delta"], payload["reason"]))
        return events

    @property
    def customers_changed(self) -> list[str]:
        return [topic for topic, _ in self.messages if topic.startswith("customer:")]
