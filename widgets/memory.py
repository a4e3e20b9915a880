"""Give the memory of ended sessions back to the system.

A session's objects are freed when it ends, but the allocator keeps their pages for
reuse: measured on the demo base with 20 sessions opened and closed, the server stayed
at its peak (pymalloc keeps an arena while one object in it lives). Served with the C
allocator (``PYTHONMALLOC=malloc``, which ``crmbook serve`` asks for) and trimmed
after sessions end (glibc's ``malloc_trim``), most of it goes back: 60 of 71 MiB within
5 s of the sessions being let go in that run (Bokeh lets a session go 15 to 30 s after
its page closes). What stays is reused by the next sessions, not added to.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

#: How long after a session ends the memory is given back (s): sessions closing
#: together are trimmed once.
TRIM_AFTER_S = 2.0


def _trimmer() -> Callable[[int], Any] | None:
    """glibc's ``malloc_trim``, or None on another C library."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # musl and others have none
        return None


_malloc_trim = _trimmer()


def give_back() -> None:
    """Collect what ended sessions left in reference cycles, then hand the free pages
    of the C heap back to the system (where the C library can)."""
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)


class Returner:
    """Calls :func:`give_back` once, :data:`TRIM_AFTER_S` after the last of a burst of
    :meth:`soon` calls (on a timer thread: the trim takes milliseconds, never the loop)."""

    def __init__(self, delay: float = TRIM_AFTER_S, action: Callable[[], Any] | None = None):
        self.delay = delay
        self.action = action or give_back
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def soon(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay, self.action)
            self._timer.daemon = True
            self._timer.start()


def with_c_allocator(args: list[str]) -> None:
    """Start this command (``python`` and ``args``, ``sys.orig_argv[1:]``) again with
    ``PYTHONMALLOC=malloc`` unless it is set (the allocator is chosen when Python
    starts). Set it to ``pymalloc`` to keep Python's own."""
    if "PYTHONMALLOC" in os.environ or _malloc_trim is None:
        return
    env = {**os.environ, "PYTHONMALLOC": "malloc"}
    os.execve(sys.executable, [sys.executable, *args], env)
