"""Background prefetch: a thread runs an iterator a few items ahead of its consumer.

Parsing (pyarrow, which releases the GIL) then overlaps the training step. The queue is
bounded, so memory is ``depth`` items however large the files are. The thread holds no
reference to the :class:`Prefetcher`, only to the queue, a stop flag and the source iterator,
so dropping the consumer's iterator (a ``break``, a finished ``Estimator.train(steps=...)``)
garbage-collects it and its finalizer stops the thread. An exception in the source is passed
through the queue and raised in the consumer unchanged (same type, same message).
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

__all__ = ["Prefetcher"]

T = TypeVar("T")

_ITEM, _END, _ERROR = "item", "end", "error"
_POLL_S = 0.1  # how often a blocked thread checks the stop flag
_JOIN_S = 5.0


class Prefetcher(Generic[T]):
    """Iterates ``source`` in a daemon thread, at most ``depth`` items ahead.

    Args:
        source: The iterator to run ahead. It is advanced only by the background thread and
            closed there (``source.close()``, when it has one) when the prefetcher stops.
        depth: Items buffered ahead of the consumer.
        name: The thread's name (shown in stack dumps).

    Example:
        >>> prefetcher = Prefetcher(iter(range(5)), depth=2)
        >>> list(prefetcher)
        [0, 1, 2, 3, 4]
        >>> prefetcher = Prefetcher(iter(range(100)), depth=2); next(prefetcher); prefetcher.close()
        0
    """

    def __init__(self, source: Iterator[T], depth: int, name: str = "torch_estimator-prefetch") -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        stop = threading.Event()
        self._thread = threading.Thread(target=_run, args=(source, self._queue, stop), name=name, daemon=True)
        self._thread.start()
        self._finalizer = weakref.finalize(self, _shutdown, stop, self._queue, self._thread)
        self._finished = False

    def __iter__(self) -> Prefetcher[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        kind, value = self._get()
        if kind == _ITEM:
            return value
        self.close()
        if kind == _ERROR:
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stops the thread and drops what it read ahead. Idempotent."""
        self._finished = True
        self._finalizer()

    def _get(self) -> tuple[str, Any]:
        while True:
            try:
                return self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    # The thread always posts an end or an error; only a killed interpreter skips it.
                    return _ERROR, RuntimeError("The input prefetch thread stopped without a result")


def _run(source: Iterator[Any], items: queue.Queue, stop: threading.Event) -> None:
    try:
        for item in source:
            if not _put(items, stop, (_ITEM, item)):
                return
        _put(items, stop, (_END, None))
    except BaseException as error:  # noqa: BLE001 - every failure must reach the consumer
        _put(items, stop, (_ERROR, error))
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def _put(items: queue.Queue, stop: threading.Event, entry: tuple[str, Any]) -> bool:
    """Puts ``entry`` unless stopped first; a full queue is re-checked every ``_POLL_S``."""
    while not stop.is_set():
        try:
            items.put(entry, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _shutdown(stop: threading.Event, items: queue.Queue, thread: threading.Thread) -> None:
    stop.set()
    while True:  # emptying the queue frees the batches at once and unblocks a pending put
        try:
            items.get_nowait()
        except queue.Empty:
            break
    if thread is not threading.current_thread():  # a finalizer can run on the worker itself
        thread.join(_JOIN_S)
