"""Column chunks: the unit the readers produce, the shuffle buffer mixes and batches are cut from.

A chunk is a dict of column name -> 1-D column, every column with the same number of rows:
numeric columns are tensors, string columns numpy arrays of ``str`` (the project's conversion
rules, :mod:`torch_estimator.inputs.structure`). Work is per chunk (thousands of rows), never
per row, so Python overhead stays a small fraction of parsing time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Union

import numpy as np
import pyarrow as pa
import torch

from torch_estimator.inputs.structure import to_tensor

__all__ = ["Batcher", "Chunk", "Position", "arrow_to_numpy", "assign", "concat", "cut", "num_rows", "take", "to_column"]

Column = Union[torch.Tensor, np.ndarray]
Chunk = dict[str, Column]


def arrow_to_numpy(array: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
    """An Arrow column as ``(values, missing)``: a numpy array and a mask of nulls (None if none).

    Reads Arrow's buffers directly: ``Array.to_numpy`` and ``pa.array`` import pandas on first
    use (~40 MB resident), which a data path that never needs pandas should not pay. Numeric
    values are a read-only view of Arrow's memory (no copy); strings become an object array
    of ``str``; null slots hold arbitrary values (or None for strings).

    Example:
        >>> values, missing = arrow_to_numpy(pa.array([1, None, 3]))
        >>> values[~missing].tolist(), missing.tolist()
        ([1, 3], [False, True, False])
    """
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    kind, rows, offset = array.type, len(array), array.offset
    missing = _bits(array.buffers()[0], offset, rows) == 0 if array.null_count else None
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        values = np.empty(rows, dtype=object)
        values[:] = array.to_pylist()
    elif pa.types.is_boolean(kind):
        values = _bits(array.buffers()[1], offset, rows).astype(bool)
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        family = "float" if pa.types.is_floating(kind) else "uint" if pa.types.is_unsigned_integer(kind) else "int"
        dtype = np.dtype(f"{family}{kind.bit_width}")
        values = (np.frombuffer(array.buffers()[1], dtype=dtype, count=rows, offset=offset * dtype.itemsize)
                  if rows else np.empty(0, dtype))
    else:
        raise TypeError(f"Arrow type {kind} has no tensor equivalent")
    return values, missing


def _bits(buffer: pa.Buffer, offset: int, rows: int) -> np.ndarray:
    """Arrow's little-endian bitmap as a uint8 array of 0/1, one per row."""
    if not rows:
        return np.empty(0, np.uint8)
    return np.unpackbits(np.frombuffer(buffer, np.uint8), bitorder="little")[offset:offset + rows]


def to_column(values: np.ndarray) -> Column:
    """A numpy column as a chunk column: numbers to tensors that own writable memory (float64
    becomes float32, the project's rule), strings stay numpy arrays.

    Example:
        >>> to_column(np.array([1.5, 2.5])), to_column(np.array(["a"], dtype=object))
        (tensor([1.5000, 2.5000]), array(['a'], dtype=object))
    """
    if values.dtype.kind in "OUS":
        return values
    if values.dtype == np.float64 and torch.get_default_dtype() == torch.float32:
        values = values.astype(np.float32)  # the conversion to_tensor would do, as the one copy
    elif not values.flags.writeable:
        values = values.copy()  # Arrow's memory is read-only; a batch is the user's to modify
    return to_tensor(values)


def num_rows(chunk: Chunk) -> int:
    """Rows in ``chunk`` (0 for a chunk without columns).

    Example:
        >>> num_rows({"a": torch.zeros(3), "b": np.array(["x", "y", "z"])})
        3
    """
    for column in chunk.values():
        return len(column)
    return 0


def cut(chunk: Chunk, start: int, stop: int) -> Chunk:
    """Rows ``[start, stop)``, as views (no copy).

    Example:
        >>> cut({"a": torch.arange(5)}, 1, 3)["a"].tolist()
        [1, 2]
    """
    return {name: column[start:stop] for name, column in chunk.items()}


def take(chunk: Chunk, rows: np.ndarray) -> Chunk:
    """The rows at ``rows`` (an int64 index array), in that order, copied.

    Example:
        >>> take({"a": torch.arange(5), "s": np.array(list("abcde"))}, np.array([4, 0]))
        {'a': tensor([4, 0]), 's': array(['e', 'a'], dtype='<U1')}
    """
    index = torch.from_numpy(rows)
    return {name: column.index_select(0, index) if isinstance(column, torch.Tensor) else column[rows]
            for name, column in chunk.items()}


def assign(chunk: Chunk, rows: np.ndarray, values: Chunk) -> None:
    """Writes ``values`` into ``chunk`` at ``rows`` (in place).

    Example:
        >>> chunk = {"a": torch.zeros(3, dtype=torch.long)}
        >>> assign(chunk, np.array([2]), {"a": torch.tensor([7])}); chunk["a"].tolist()
        [0, 0, 7]
    """
    index = torch.from_numpy(rows)
    for name, column in chunk.items():
        if isinstance(column, torch.Tensor):
            column.index_copy_(0, index, values[name])
        else:
            column[rows] = values[name]


def concat(chunks: Sequence[Chunk]) -> Chunk:
    """The rows of ``chunks`` one after the other (the chunk itself when there is one).

    Example:
        >>> concat([{"a": torch.tensor([1])}, {"a": torch.tensor([2, 3])}])["a"].tolist()
        [1, 2, 3]
    """
    if len(chunks) == 1:
        return chunks[0]
    first = chunks[0]
    return {name: torch.cat([chunk[name] for chunk in chunks]) if isinstance(column, torch.Tensor)
            else np.concatenate([chunk[name] for chunk in chunks])
            for name, column in first.items()}


@dataclasses.dataclass(frozen=True)
class Position:
    """Where a stream stands: ``rows`` rows of epoch ``epoch``'s row order have been delivered."""

    epoch: int
    rows: int


class Batcher:
    """Cuts a stream of chunks into batches of ``batch_size`` rows, across chunk and epoch edges.

    Each batch comes with the :class:`Position` just after its last row, which is what a
    resumed run needs to continue exactly after it. A batch that lies within one chunk is a
    view of it; only batches straddling chunks are copied.

    Example:
        >>> batcher = Batcher(3)
        >>> [(b["a"].tolist(), p.rows) for b, p in batcher.add({"a": torch.arange(4)}, epoch=0, first_row=0)]
        [([0, 1, 2], 3)]
        >>> [(b["a"].tolist(), p) for b, p in batcher.add({"a": torch.arange(2)}, epoch=1, first_row=0)]
        [([3, 0, 1], Position(epoch=1, rows=2))]
    """

    def __init__(self, batch_size: int) -> None:
        self._batch_size = batch_size
        self._pending: list[Chunk] = []
        self._pending_rows = 0
        self._last = Position(0, 0)

    def add(self, chunk: Chunk, epoch: int, first_row: int) -> Iterator[tuple[Chunk, Position]]:
        """Yields the batches completed by ``chunk``, whose first row is row ``first_row`` of ``epoch``."""
        size, start, rows = self._batch_size, 0, num_rows(chunk)
        if self._pending_rows:
            need = size - self._pending_rows
            if rows < need:
                self._keep(chunk, rows, Position(epoch, first_row + rows))
                return
            self._pending.append(cut(chunk, 0, need))
            batch = concat(self._pending)
            self._pending, self._pending_rows, start = [], 0, need
            yield batch, Position(epoch, first_row + need)
        while rows - start >= size:
            yield cut(chunk, start, start + size), Position(epoch, first_row + start + size)
            start += size
        if start < rows:
            self._keep(cut(chunk, start, rows) if start else chunk, rows - start, Position(epoch, first_row + rows))

    def flush(self) -> tuple[Chunk, Position] | None:
        """The final partial batch, if rows are pending (TensorFlow keeps it: drop_remainder=False)."""
        if not self._pending_rows:
            return None
        batch = concat(self._pending)
        self._pending, self._pending_rows = [], 0
        return batch, self._last

    def _keep(self, chunk: Chunk, rows: int, last: Position) -> None:
        self._pending.append(chunk)
        self._pending_rows += rows
        self._last = last
