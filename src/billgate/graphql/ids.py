"""Relay global ids: defined in ``billgate/ids.py`` (shared with the REST edge)."""

from billgate.ids import (
    MAX_ROW_ID,
    compound_id,
    global_id,
    parse_global_id,
    row_id,
    split_compound_id,
)

__all__ = ["MAX_ROW_ID", "compound_id", "global_id", "parse_global_id", "row_id",
           "split_compound_id"]
