"""What one billgate process holds while it runs: settings, database, clock, event bus.

Built once by the app's lifespan (or by tests) and handed to every request context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from billgate.clock import Clock
from billgate.db.engine import Database
from billgate.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    secret_keys: tuple[str, ...]
    bus: Any = None  # billgate.events.bus.EventBus once started
    extras: dict[str, Any] = field(default_factory=dict)
