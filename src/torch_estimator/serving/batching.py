"""Dynamic batching: concurrent requests to one model signature run as one model call.

A :class:`Batcher` keeps the requests that arrive while a model call is running and, when it
ends, runs them as the next call: requests merge exactly when the model is busy, so a lone
request never waits for company. ``batch_timeout_micros`` (TensorFlow Serving's name, default 0)
additionally holds a batch that is not full for up to that long, trading latency for larger
batches. Model calls run in a worker thread, never on the event loop.

Requests are validated before they are queued (the codec checks names, dtypes and shapes), so
one bad request cannot fail a batch; should a merged call fail anyway, each of its requests
is re-run alone and only the guilty one fails.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import numpy as np

from torch_estimator.errors import message
from torch_estimator.serving.errors import ServingError

Arrays = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """How requests are merged (TensorFlow Serving's ``BatchingParameters`` names).

    Args:
        max_batch_size: Most rows in one model call. A request with more rows runs alone.
        batch_timeout_micros: How long a batch that is not full may wait for more requests
            once the model is free. 0 (the default) runs it at once: requests still merge
            while the model is busy, and a lone request pays no wait.
        max_enqueued_batches: Queue bound, in batches of ``max_batch_size`` rows; beyond it
            requests are refused with 503 (TensorFlow Serving: "queue is full") rather than
            letting latency grow without bound.

    Raises:
        ValueError: listing every invalid field.

    Example:
        >>> BatchingParameters(max_batch_size=32).max_queued_rows
        3200
        >>> BatchingParameters(max_batch_size=0, batch_timeout_micros=-1)
        Traceback (most recent call last):
        ...
        ValueError: Invalid BatchingParameters: max_batch_size must be >= 1; batch_timeout_micros must be >= 0. \
Expected max_batch_size >= 1, batch_timeout_micros >= 0, max_enqueued_batches >= 1. Received: max_batch_size=0, \
batch_timeout_micros=-1, max_enqueued_batches=100.
    """

    max_batch_size: int = 64
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 100

    def __post_init__(self) -> None:
        problems = [f"{name} must be >= {low}" for name, low in (("max_batch_size", 1), ("batch_timeout_micros", 0),
                                                                ("max_enqueued_batches", 1))
                    if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), int)
                    or getattr(self, name) < low]
        if problems:
            raise ValueError(message("Invalid BatchingParameters: " + "; ".join(problems),
                                     expected="max_batch_size >= 1, batch_timeout_micros >= 0, "
                                              "max_enqueued_batches >= 1", **dataclasses.asdict(self)))

    @property
    def max_queued_rows(self) -> int:
        return self.max_batch_size * self.max_enqueued_batches

    def replace(self, **changes: Any) -> BatchingParameters:
        return dataclasses.replace(self, **changes)


class DirectRunner:
    """Runs each request as its own model call in the worker thread (batching off)."""

    def __init__(self, predict: Callable[[Arrays], Arrays], executor: Executor,
                 on_batch: Callable[[int], None] = lambda rows: None) -> None:
        self._predict, self._executor, self._on_batch = predict, executor, on_batch

    async def submit(self, inputs: Arrays) -> Arrays:
        """The outputs for ``inputs`` (a validated batch)."""
        self._on_batch(_rows(inputs))
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._predict, inputs)


@dataclasses.dataclass
class _Request:
    inputs: Arrays
    rows: int
    future: asyncio.Future
    arrival: float


class Batcher:
    """Merges concurrent :meth:`submit` calls into model calls of at most ``max_batch_size`` rows.

    All methods but the model call itself run on the event loop, so the queue needs no lock.

    Args:
        predict: The model call, ``{input: batch} -> {output: batch}``; run in ``executor``.
        executor: Where model calls run (one call at a time per batcher).
        parameters: Sizes and wait.
        on_batch: Told the rows of every model call (for the batch-size metric).

    Example:
        >>> import asyncio, concurrent.futures, numpy as np
        >>> calls = []
        >>> def predict(inputs):
        ...     calls.append(len(inputs["x"]))
        ...     return {"y": inputs["x"] * 2}
        >>> async def main():
        ...     with concurrent.futures.ThreadPoolExecutor(1) as pool:
        ...         batcher = Batcher(predict, pool, BatchingParameters(max_batch_size=8))
        ...         return await asyncio.gather(*[batcher.submit({"x": np.array([[i]])}) for i in range(5)])
        >>> [int(out["y"][0, 0]) for out in asyncio.run(main())]
        [0, 2, 4, 6, 8]
        >>> calls  # the first request runs alone; the four that queued meanwhile run together
        [1, 4]
    """

    def __init__(self, predict: Callable[[Arrays], Arrays], executor: Executor, parameters: BatchingParameters,
                 on_batch: Callable[[int], None] = lambda rows: None) -> None:
        self._predict, self._executor, self._on_batch = predict, executor, on_batch
        self._max_rows = parameters.max_batch_size
        self._timeout = parameters.batch_timeout_micros / 1e6
        self._max_queued = parameters.max_queued_rows
        self._queue: collections.deque[_Request] = collections.deque()
        self._queued_rows = 0
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None

    async def submit(self, inputs: Arrays) -> Arrays:
        """The outputs for ``inputs`` (a validated batch), computed within some model call.

        Raises:
            ServingError: 503 when the queue holds ``max_enqueued_batches`` batches already.
        """
        rows = _rows(inputs)
        if self._queued_rows + rows > self._max_queued:
            raise ServingError(503, message("The batch queue is full; the server is overloaded",
                                            expected=f"at most {self._max_queued} queued rows",
                                            fix="Retry later, or raise max_enqueued_batches",
                                            queued_rows=self._queued_rows))
        loop = asyncio.get_running_loop()
        request = _Request(inputs, rows, loop.create_future(), loop.time())
        self._queue.append(request)
        self._queued_rows += rows
        self._dispatch(loop)
        return await request.future

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._busy or not self._queue:
            return
        if self._timeout > 0 and self._queued_rows < self._max_rows:
            wait = self._queue[0].arrival + self._timeout - loop.time()
            if wait > 0:
                if self._timer is None:
                    self._timer = loop.call_later(wait, self._on_timer, loop)
                return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch = [self._queue.popleft()]
        rows = batch[0].rows
        while self._queue and rows + self._queue[0].rows <= self._max_rows:
            rows += self._queue[0].rows
            batch.append(self._queue.popleft())
        self._queued_rows -= rows
        self._busy = True
        self._on_batch(rows)
        done = loop.run_in_executor(self._executor, self._run, [request.inputs for request in batch])
        done.add_done_callback(functools.partial(self._finish, batch, loop))

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._dispatch(loop)

    def _run(self, inputs: list[Arrays]) -> list[Arrays | BaseException]:
        """In the worker thread: one merged call, or one call per request if that fails."""
        if len(inputs) == 1:
            return [_call(self._predict, inputs[0])]
        merged = {name: np.concatenate([item[name] for item in inputs]) for name in inputs[0]}
        outputs = _call(self._predict, merged)
        sizes = [_rows(item) for item in inputs]
        if isinstance(outputs, dict) and all(value.ndim and value.shape[0] == sum(sizes)
                                             for value in outputs.values()):
            bounds = np.cumsum([0, *sizes]).tolist()
            return [{key: value[start:stop] for key, value in outputs.items()}
                    for start, stop in zip(bounds, bounds[1:])]
        # The merged call failed, or an output is not batch-major and cannot be split.
        return [_call(self._predict, item) for item in inputs]

    def _finish(self, batch: list[_Request], loop: asyncio.AbstractEventLoop, done: asyncio.Future) -> None:
        self._busy = False
        if done.cancelled():  # the loop is shutting down
            results: list[Any] = [None] * len(batch)
        else:
            error = done.exception()
            results = [error] * len(batch) if error is not None else done.result()
        for request, result in zip(batch, results):
            if request.future.done():  # the client went away
                continue
            if result is None:
                request.future.cancel()
            elif isinstance(result, BaseException):
                request.future.set_exception(result)
            else:
                request.future.set_result(result)
        self._dispatch(loop)


def _call(predict: Callable[[Arrays], Arrays], inputs: Arrays) -> Arrays | BaseException:
    try:
        return predict(inputs)
    except Exception as error:  # handed to the request's future, raised in its handler
        return error


def _rows(inputs: Arrays) -> int:
    return int(next(iter(inputs.values())).shape[0])
