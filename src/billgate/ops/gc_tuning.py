"""Garbage-collector settings for a serving process.

CPython's cyclic collector pauses the whole process while it scans; a full collection scans
every tracked object. A server holding a thousand live WebSocket subscriptions tracks about
half a million objects, and a full scan of those took 300 ms here: every subscriber and
request waited that long. Two settings keep pauses rare and short:

* ``gc.freeze()`` once the app has started moves what exists then (modules, the schema,
  the engines: about 130,000 objects) out of every later scan. They live as long as the
  process anyway.
* A higher first threshold (``GEN0_THRESHOLD`` allocations instead of 700) runs young
  collections less often, so short-lived objects are gone by refcounting before a
  collection could promote them, and full collections (which follow from promotions)
  become rarer. Memory held by cyclic garbage between collections grows a little.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

GEN0_THRESHOLD = 50_000


def tune_for_serving() -> None:
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
    log.info("gc: froze %d start-up objects; young-collection threshold %d",
             gc.get_freeze_count(), GEN0_THRESHOLD)
