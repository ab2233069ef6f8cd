"""A serving process keeps garbage-collection pauses short (``ops/gc_tuning.py``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from billgate.ops.gc_tuning import GEN0_THRESHOLD, tune_for_serving


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """The settings are process-wide: put the test process's back afterwards."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_start_up_objects_leave_the_scans_and_young_collections_run_less_often(restored_gc: None) -> None:
    before = gc.get_threshold()
    start_up_object = object.__new__(type("StartUp", (), {}))  # tracked: an instance of a class
    tune_for_serving()
    assert gc.get_freeze_count() > 0
    assert not any(o is start_up_object for o in gc.get_objects()), "frozen objects are not scanned"
    assert gc.get_threshold() == (GEN0_THRESHOLD, before[1], before[2])
