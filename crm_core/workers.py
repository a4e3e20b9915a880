"""Worker processes that end with the process that started them.

A process pool's workers are shut down by their parent; a parent that is SIGKILLed
never does, and its workers would stay (each with a workspace open, 100+ MB) until
someone found them. Each worker started with :func:`watch_parent` ends itself within
:data:`WATCH_EVERY` seconds of its parent's death.
"""

from __future__ import annotations

import os
import threading
import time

#: How often (seconds) a worker looks whether the process that started it still lives.
WATCH_EVERY = 1.0


def watch_parent(parent: int) -> None:
    """In a worker process: end it as soon as ``parent`` (the pid of the process that
    started it) is no longer its parent (it died, and the worker was adopted)."""
    threading.Thread(target=_watch, args=(parent,), name="crmbook-parent", daemon=True).start()


def _watch(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(WATCH_EVERY)
