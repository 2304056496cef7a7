"""wharfie/parallel.py: a few threads for a few blobs, without concurrent.futures."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from wharfie.parallel import Later, each


def test_each_runs_every_item_on_its_workers():
    barrier = threading.Barrier(3, timeout=10)  # only three threads at once can pass it
    seen: list[tuple[int, str]] = []

    def work(n: int) -> None:
        if n < 3:
            barrier.wait()
        seen.append((n, threading.current_thread().name))

    each(work, range(7), 3)
    assert sorted(n for n, _ in seen) == list(range(7))
    assert len({name for _, name in seen}) == 3


def test_one_worker_or_one_item_runs_here():
    here = threading.current_thread()
    threads = []
    each(lambda n: threads.append(threading.current_thread()), [1, 2], 1)
    each(lambda n: threads.append(threading.current_thread()), [3], 4)
    assert threads == [here, here, here]


def test_the_first_error_stops_what_has_not_started_and_is_raised_when_all_ended():
    stop = threading.Event()
    started, finished = [], []
    one_running = threading.Event()

    def work(n: int) -> None:
        started.append(n)
        if n == 0:
            one_running.wait(10)
            raise ValueError("item 0 failed")
        if n == 1:  # running when 0 fails: it sees ``stop`` and ends, as load's ingests do
            one_running.set()
            stop.wait(10)
            finished.append(n)
            return
        raise AssertionError(f"item {n} started after the failure")

    with pytest.raises(ValueError, match="item 0 failed"):
        each(work, range(6), 2, stop=stop)
    assert stop.is_set() and finished == [1]
    assert sorted(started) == [0, 1]


# Ctrl-C while the workers run: the signal reaches the caller's thread, which stops the
# rest (no new item starts), waits for the running ones, and raises KeyboardInterrupt.
_INTERRUPTED = """
import os, signal, threading, time
from wharfie.parallel import each
started = []
stop = threading.Event()
def work(n):
    started.append(n)
    if n == 0:
        os.kill(os.getpid(), signal.SIGINT)
    stop.wait(10)
try:
    each(work, range(10), 2, stop=stop)
except KeyboardInterrupt:
    print("interrupted", stop.is_set(), sorted(started))
"""


def test_ctrl_c_stops_the_workers_and_is_raised():
    res = subprocess.run([sys.executable, "-c", _INTERRUPTED], capture_output=True,
                         text=True, timeout=60)
    # the second worker may or may not have taken its item before the signal came
    assert res.stdout.strip() in ("interrupted True [0]", "interrupted True [0, 1]"), res.stderr


def test_later_gives_the_result_or_raises_the_error():
    assert Later(sum, [1, 2, 3]).result() == 6

    def boom() -> None:
        raise KeyError("gone")

    failed = Later(boom)
    with pytest.raises(KeyError, match="gone"):
        failed.result()


# Ctrl-C that the kernel hands to the worker thread, while the caller waits for its result:
# the caller is not blocked on the thread until the work ends, and raises it at once.
_LATER_INTERRUPTED = """
import signal, threading
from wharfie.parallel import Later
waiting, release = threading.Event(), threading.Event()
ended = []
def work():
    waiting.wait(50)
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)
    release.wait(50)
    ended.append(True)
later = Later(work)
try:
    waiting.set()
    later.result()
except KeyboardInterrupt:
    print("interrupted while running:", not ended)
release.set()
"""


def test_ctrl_c_reaches_a_caller_waiting_for_a_later():
    res = subprocess.run([sys.executable, "-c", _LATER_INTERRUPTED], capture_output=True,
                         text=True, timeout=60)
    assert res.stdout.strip() == "interrupted while running: True", res.stderr
