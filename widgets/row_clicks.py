"""A table's row buttons act on the row the user saw when clicking.

A Tabulator tells the server which row was clicked by its position only. When a
click's action takes its row out of the table ("Done" on an activity, "Undo" on a
merge), the next row moves under the pointer; the second click of a double click was
sent before the browser had the new rows, names the same position, and would act on
that other row. :class:`RowClicks` ignores such a click. A form's button is the same
case with one row: the first click's record empties the form the second one sends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

#: A click at the position just acted on, this soon after the action, is the second
#: half of a double click (no one reads the row that moved in faster than this).
REPEAT_SECONDS = 1.0


class RowClicks:
    """The clicks of one table's row buttons, each bound to the record it was for."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._last: tuple[int, Hashable, float] | None = None

    def run(self, position: int, key: Hashable, action: Callable[[], Any]) -> bool:
        """Run ``action`` for the record ``key`` now at ``position``, unless the click
        is a repeat at the position whose record the previous click just acted on
        (another record is there now). Returns whether it ran."""
        last = self._last
        if (
            last is not None
            and last[0] == position
            and last[1] != key
            and self._clock() - last[2] < REPEAT_SECONDS
        ):
            return False
        action()
        self._last = (position, key, self._clock())
        return True
