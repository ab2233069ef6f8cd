"""Relay global ids: defined in ``billgate/ids.py`` (shared with the REST edge)."""

from billgate.ids import compound_id, global_id, parse_global_id, split_compound_id

__all__ = ["compound_id", "global_id", "parse_global_id", "split_compound_id"]
