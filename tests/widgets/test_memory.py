"""Ended sessions' memory goes back to the system: once per burst, off the event loop."""

import os
import subprocess
import sys
import time

from widgets import memory


def test_a_burst_of_ended_sessions_is_given_back_once():
    calls = []
    returner = memory.Returner(delay=0.2, action=lambda: calls.append(time.monotonic()))
    started = time.monotonic()
    for _ in range(20):
        returner.soon()
        time.sleep(0.01)
    time.sleep(0.6)
    assert len(calls) == 1
    assert calls[0] - started >= 0.2 + 0.19  # after the last of the burst


def test_give_back_runs_here():
    memory.give_back()  # glibc's malloc_trim on this machine: present and callable
    assert memory._malloc_trim is not None


def test_the_server_command_starts_again_with_the_c_allocator():
    script = (
        "import os, sys; from widgets import memory; "
        "print(os.environ.get('PYTHONMALLOC')); sys.stdout.flush(); "
        "memory.with_c_allocator(sys.orig_argv[1:])"
    )
    once = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert once.stdout.split() == ["None", "malloc"]  # ran again, once, with it set
    kept = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONMALLOC": "pymalloc"},
    )
    assert kept.stdout.split() == ["pymalloc"]
