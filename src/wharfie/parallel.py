"""A few threads for a few blobs, without ``concurrent.futures``: it loads ``logging`` and
costs a short command (a pull, a load) about 3 ms to import."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def each(fn: Callable[[T], Any], items: Iterable[T], workers: int, *,
         stop: threading.Event | None = None) -> None:
    """``fn(item)`` for every item, on up to ``workers`` threads (this one, if one is
    enough). The first error, or Ctrl-C here, sets ``stop`` (running calls may watch it)
    and starts no further item; it is raised once every thread has finished."""
    todo = list(items)
    stop = stop or threading.Event()
    if min(workers, len(todo)) <= 1:
        for item in todo:
            fn(item)
        return
    pending: queue.SimpleQueue[T] = queue.SimpleQueue()
    for item in todo:
        pending.put(item)
    errors: list[BaseException] = []

    def work() -> None:
        while not stop.is_set():
            try:
                item = pending.get_nowait()
            except queue.Empty:
                return
            try:
                fn(item)
            except BaseException as e:  # handed to the caller's thread, which raises it
                errors.append(e)
                stop.set()

    threads: list[threading.Thread] = []
    try:
        for n in range(min(workers, len(todo))):
            threads.append(threading.Thread(target=work, name=f"wharfie-worker-{n}"))
            threads[-1].start()
        for t in threads:
            join(t)
    except BaseException:  # Ctrl-C: what runs ends its item, nothing new starts
        stop.set()
        for t in threads:
            t.join()
        raise
    if errors:
        raise errors[0]


def join(thread: threading.Thread) -> None:
    """Wait for ``thread`` in bounded waits, so that Ctrl-C is raised here at once: a signal
    the kernel gave a worker thread does not wake a thread blocked on a lock."""
    while thread.is_alive():
        thread.join(0.2)


class Later:
    """``fn(*args)`` started in a thread now, its result (or error) taken later."""

    def __init__(self, fn: Callable[..., T], *args: Any) -> None:
        self._outcome: list = []
        self._thread = threading.Thread(target=self._run, args=(fn, args),
                                        name="wharfie-later")
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple) -> None:
        try:
            self._outcome.append((True, fn(*args)))
        except BaseException as e:  # handed to whoever takes the result
            self._outcome.append((False, e))

    def result(self) -> Any:
        """Wait for the call; its value, or its error raised here."""
        join(self._thread)
        ok, value = self._outcome[0]
        if not ok:
            raise value
        return value
