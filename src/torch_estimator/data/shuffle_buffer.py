"""TensorFlow's shuffle buffer, one chunk at a time, and the per-epoch random stream behind it.

TensorFlow's ``shuffle(buffer_size)`` keeps ``buffer_size`` rows; for each incoming row it
emits a uniformly chosen buffered row and puts the new one in its slot. Doing that per row in
Python would cost more than parsing, so :class:`ShuffleBuffer` does it per chunk of ``m`` rows:
it picks ``m`` distinct slots uniformly, emits their rows in random order and stores the
chunk there. Each emitted row is still a uniform draw from the buffer, and memory stays
``buffer_size`` rows plus one chunk.

Every random choice comes from :func:`epoch_rng`, a generator seeded by ``(seed, epoch)``
only, so an epoch's order can be replayed exactly to resume in the middle of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from torch_estimator.data.columns import Chunk, assign, concat, num_rows, take

__all__ = ["ShuffleBuffer", "epoch_rng", "shuffled"]


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The random stream for one epoch: a function of ``(seed, epoch)`` alone.

    Example:
        >>> int(epoch_rng(7, 1).integers(100)) == int(epoch_rng(7, 1).integers(100))
        True
    """
    return np.random.default_rng([seed, epoch])


class ShuffleBuffer:
    """A buffer of up to ``capacity`` rows mixing a stream of chunks.

    Args:
        capacity: Rows held (TensorFlow's ``buffer_size``).
        rng: The epoch's random stream.

    Example:
        >>> import torch
        >>> buffer = ShuffleBuffer(4, epoch_rng(0, 0))
        >>> out = [buffer.push({"a": torch.arange(i * 3, i * 3 + 3)}) for i in range(3)]
        >>> sorted(torch.cat([c["a"] for c in out if c] + [buffer.drain()["a"]]).tolist())
        [0, 1, 2, 3, 4, 5, 6, 7, 8]
    """

    def __init__(self, capacity: int, rng: np.random.Generator) -> None:
        self._capacity = capacity
        self._rng = rng
        self._filling: list[Chunk] = []  # chunks received while the buffer is not yet full
        self._filled = 0
        self._buffer: Chunk | None = None  # exactly `capacity` rows once full

    def push(self, chunk: Chunk) -> Chunk | None:
        """Adds ``chunk``; returns the rows it displaces (as many as it brings), or None."""
        rows = num_rows(chunk)
        if self._buffer is None:
            self._filling.append(chunk)
            self._filled += rows
            if self._filled <= self._capacity:
                return None
            pool, self._filling, self._filled = self._filling, [], 0
        elif rows <= self._capacity:
            slots = self._rng.choice(self._capacity, size=rows, replace=False)
            out = take(self._buffer, slots)
            assign(self._buffer, slots, chunk)
            return out
        else:
            pool = [self._buffer, chunk]
        mixed = concat(pool)
        order = self._rng.permutation(num_rows(mixed))
        spill = len(order) - self._capacity
        # `take` copies, so the kept rows own their memory and can be overwritten in place later.
        self._buffer = take(mixed, order[spill:])
        return take(mixed, order[:spill])

    def drain(self) -> Chunk | None:
        """Empties the buffer at the end of the epoch, in random order."""
        rest = [self._buffer] if self._buffer is not None else self._filling
        self._buffer, self._filling, self._filled = None, [], 0
        if not rest:
            return None
        mixed = concat(rest)
        rows = num_rows(mixed)
        return take(mixed, self._rng.permutation(rows)) if rows else None


def shuffled(chunks: Iterable[Chunk], capacity: int, rng: np.random.Generator) -> Iterator[Chunk]:
    """``chunks`` mixed through a :class:`ShuffleBuffer`.

    Example:
        >>> import torch
        >>> out = shuffled(({"a": torch.arange(i, i + 2)} for i in (0, 2, 4)), 3, epoch_rng(1, 0))
        >>> sorted(torch.cat([c["a"] for c in out]).tolist())
        [0, 1, 2, 3, 4, 5]
    """
    buffer = ShuffleBuffer(capacity, rng)
    for chunk in chunks:
        out = buffer.push(chunk)
        if out is not None:
            yield out
    rest = buffer.drain()
    if rest is not None:
        yield rest
