"""The staff app's worker threads: one session's callbacks in order, sessions side by side."""

import functools
import threading
import time

import pytest
from bokeh.document import Document

from widgets.session_pool import SessionOrderedPool, document_of


def test_one_sessions_work_runs_one_at_a_time_in_the_order_it_came():
    pool = SessionOrderedPool(4)
    doc = Document()
    done, running, most = [], [0], [0]
    lock = threading.Lock()

    def work(doc, i):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.005 * (i % 3))  # later items would overtake earlier ones unordered
        with lock:
            running[0] -= 1
            done.append(i)
        return i * 10

    futures = [pool.submit(work, doc, i) for i in range(30)]
    assert [f.result(timeout=10) for f in futures] == [i * 10 for i in range(30)]
    assert done == list(range(30))
    assert most[0] == 1
    assert pool.waiting() == 0
    pool.shutdown()


def test_two_sessions_run_side_by_side():
    pool = SessionOrderedPool(2)
    first, second = Document(), Document()
    both_in = threading.Barrier(2, timeout=5)  # passes only if the two run at once
    futures = [
        pool.submit(functools.partial(lambda doc: both_in.wait(), first)),
        pool.submit(functools.partial(lambda doc: both_in.wait(), second)),
    ]
    for future in futures:
        future.result(timeout=10)
    pool.shutdown()


def test_a_failure_reaches_its_future_and_the_session_goes_on():
    pool = SessionOrderedPool(2)
    doc = Document()

    def boom(doc):
        raise ValueError("refused")

    failed = pool.submit(boom, doc)
    after = pool.submit(lambda doc: "next", doc)
    with pytest.raises(ValueError, match="refused"):
        failed.result(timeout=5)
    assert after.result(timeout=5) == "next"
    pool.shutdown()


def test_the_session_is_found_where_panel_passes_it():
    doc = Document()

    class Periodic:
        _doc = doc

        def run(self, *args):
            return args

    assert document_of(print, (doc, 1)) is doc
    assert document_of(functools.partial(print, doc), ()) is doc
    assert document_of(Periodic().run, (True, "id")) is doc
    assert document_of(print, (1, 2)) is None
