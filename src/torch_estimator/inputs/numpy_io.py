"""``numpy_input_fn``: batches sliced from in-memory arrays (TensorFlow's ``numpy_input_fn``).

TensorFlow fed numpy arrays through a queue filled by ``num_threads`` feeder threads. Here the
arrays are converted to tensors once, when the ``input_fn`` is called, and each batch is a slice
of those tensors: a view when rows are read in order, one ``index_select`` when shuffled. There
is nothing to prefetch, so ``queue_capacity`` and ``num_threads`` are only validated.

The batching here (:func:`make_input_fn`) is also what ``pandas_input_fn`` uses, so both follow
one set of rules.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Union

import numpy as np
import torch

from torch_estimator.errors import message
from torch_estimator.inputs.columnar import PackedColumns
from torch_estimator.inputs.structure import to_tensor, to_tensors

__all__ = ["ArrayBatches", "numpy_input_fn"]

Array = Union[np.ndarray, torch.Tensor]
# One array, or arrays by name; every array has the same number of rows.
Columns = Union[Array, dict[Any, Array]]

# dtype kinds torch.from_numpy accepts, plus strings/objects, which stay numpy arrays.
_CONVERTIBLE_KINDS = "biufcOUS"


class ArrayBatches:
    """The re-iterable batches an ``input_fn`` made by ``numpy_input_fn`` returns.

    Each ``iter()`` starts a fresh pass over ``num_epochs`` epochs. Rows are read as one stream,
    epoch after epoch, cut into batches of ``batch_size`` rows, so a batch may span two epochs
    (as TensorFlow's queue did) and only the very last batch of a finite stream can be smaller.
    With ``shuffle``, every epoch draws a permutation from torch's global RNG when iteration
    reaches it, so rows are drawn without replacement within an epoch and a seeded run repeats.

    Two or more 1-D float32 feature columns are packed side by side into one table (one copy of
    them, made here; see :mod:`torch_estimator.inputs.columnar`): a batch of them is then one
    slice, and each column in the batch's dict is a view of it. Unshuffled batches are views
    (no copy) of the table or of the converted arrays; modifying one in place modifies the
    data later epochs read.

    Args:
        features: Converted features: a tensor, or a dict of tensors / numpy string arrays.
        labels: Converted labels in the same form, or None to yield features alone.
        num_rows: Rows in every array.
        batch_size: Rows per batch.
        num_epochs: Passes over the data, or None to repeat forever.
        shuffle: Whether to permute rows every epoch.

    Example:
        >>> batches = ArrayBatches(torch.arange(5), None, 5, batch_size=2, num_epochs=2, shuffle=False)
        >>> [batch.tolist() for batch in batches]
        [[0, 1], [2, 3], [4, 0], [1, 2], [3, 4]]
    """

    def __init__(self, features: Columns, labels: Columns | None, num_rows: int, batch_size: int,
                 num_epochs: int | None, shuffle: bool) -> None:
        # Scalar float columns are packed into one table (see inputs/columnar.py); the rest stay.
        self._packed = PackedColumns.pack(features) if isinstance(features, dict) else None
        self._features = features if self._packed is None else self._packed.others
        self._labels = labels
        self._num_rows = num_rows
        self._batch_size = batch_size
        self._num_epochs = num_epochs
        self._shuffle = shuffle

    def __repr__(self) -> str:
        return (f"ArrayBatches(num_rows={self._num_rows}, batch_size={self._batch_size}, "
                f"num_epochs={self._num_epochs}, shuffle={self._shuffle})")

    @property
    def packed(self) -> bool:
        """Whether two or more columns are packed into one table."""
        return self._packed is not None

    def __iter__(self) -> Iterator[Any]:
        for rows in self._selections():
            features = _take(self._features, rows)
            if self._packed is not None:
                features = self._packed.split(self._packed.rows(rows), features)[0]
            yield features if self._labels is None else (features, _take(self._labels, rows))

    def batches_as(self, features_type: Any, device: torch.device | None = None) -> Iterator[tuple[Any, Any]]:
        """``(features, labels)`` pairs, dict features made by ``features_type``, on ``device``.

        What the Estimator's loops read (with their ``Features`` dict): the same batches as
        ``iter(self)``, always as pairs (labels None when there are none), in as few Python
        operations per batch as possible, since the training loop reads one batch per step.
        ``features_type`` takes what ``dict`` takes, and makes a batch of packed columns with
        ``features_type.from_packed(packed, values, others)`` (see ``loops.batches.Features``).
        With a ``device``, the packed columns of a batch move there as one tensor.
        """
        if device is not None:
            yield from self._batches_on(features_type, device)
            return
        features, labels, packed = self._features, self._labels, self._packed
        columns = tuple(features.items()) if isinstance(features, dict) else None
        for rows in self._selections():
            if packed is not None:
                others = {k: _take_rows(c, rows) for k, c in columns}
                batch = features_type.from_packed(packed, packed.rows(rows), others)
            elif columns is None:
                batch = features[rows] if type(rows) is slice else _take_rows(features, rows)
            else:
                batch = features_type({k: _take_rows(c, rows) for k, c in columns})
            yield batch, (None if labels is None else labels[rows] if type(rows) is slice and type(labels)
                          is torch.Tensor else _take(labels, rows))

    def _batches_on(self, features_type: Any, device: torch.device) -> Iterator[tuple[Any, Any]]:
        """:meth:`batches_as` for another device: every tensor moved, packed columns in one copy."""
        for rows in self._selections():
            features = to_tensors(_take(self._features, rows), device)
            if self._packed is not None:
                values = self._packed.rows(rows).to(device, non_blocking=True)
                features = features_type.from_packed(self._packed, values, features)
            elif isinstance(features, dict):
                features = features_type(features)
            yield features, None if self._labels is None else to_tensors(_take(self._labels, rows), device)

    def _selections(self) -> Iterator[slice | torch.Tensor]:
        """Each batch's rows: a slice when they are one in-order run (columns are then viewed,
        not copied), else an index tensor."""
        pending: list[tuple[torch.Tensor | None, int, int]] = []  # (epoch order, start, stop)
        filled = 0
        for order in self._epoch_orders():
            start = 0
            while start < self._num_rows:
                stop = min(self._num_rows, start + self._batch_size - filled)
                pending.append((order, start, stop))
                filled += stop - start
                start = stop
                if filled == self._batch_size:
                    yield slice(pending[0][1], stop) if order is None and len(pending) == 1 else _rows(pending)
                    pending, filled = [], 0
        if pending:
            yield _rows(pending)

    def _epoch_orders(self) -> Iterator[torch.Tensor | None]:
        """Yields each epoch's row order (None: in order), drawn lazily so seeding applies."""
        epochs: Iterable[int] = itertools.count() if self._num_epochs is None else range(self._num_epochs)
        for _ in epochs:
            yield torch.randperm(self._num_rows) if self._shuffle else None


def _rows(pending: list[tuple[torch.Tensor | None, int, int]]) -> slice | torch.Tensor:
    """A slice when the batch is one in-order run of rows (so columns are viewed, not copied)."""
    if len(pending) == 1 and pending[0][0] is None:
        return slice(pending[0][1], pending[0][2])
    pieces = [torch.arange(start, stop) if order is None else order[start:stop] for order, start, stop in pending]
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces)


def _take(columns: Columns, rows: slice | torch.Tensor) -> Any:
    if isinstance(columns, dict):
        return {key: _take_rows(column, rows) for key, column in columns.items()}
    return _take_rows(columns, rows)


def _take_rows(column: Array, rows: slice | torch.Tensor) -> Array:
    if type(rows) is slice:
        return column[rows]
    if isinstance(column, torch.Tensor):
        return column.index_select(0, rows)
    return column[rows.numpy()]  # string columns stay numpy arrays


def numpy_input_fn(x: Mapping[Any, Any] | Array, y: Mapping[Any, Any] | Array | None = None,
                   batch_size: int = 128, num_epochs: int | None = 1, shuffle: bool | None = None,
                   queue_capacity: int = 1000, num_threads: int = 1) -> Callable[[], ArrayBatches]:
    """Returns an ``input_fn`` that yields batches of in-memory numpy arrays.

    The ``input_fn`` takes no arguments and returns an :class:`ArrayBatches`: an iterable of
    ``(features, labels)`` batches, or of ``features`` alone when ``y`` is None. Arrays are
    converted once per ``input_fn`` call by the project's rules (``float64`` becomes float32,
    integers keep their dtype, string arrays stay numpy arrays). Dict keys come out sorted, as
    TensorFlow sorted them.

    Args:
        x: Features: an array (features are then a bare tensor) or a dict of arrays.
        y: Labels: an array, a dict of arrays, or None for features-only batches (prediction).
        batch_size: Rows per batch. The last batch is smaller when ``num_epochs`` times the row
            count is not a multiple of it.
        num_epochs: Passes over the data; None repeats forever (then every batch is full).
        shuffle: Whether to permute the rows every epoch, from torch's global RNG. Required, as
            in TensorFlow: usually True for training, False for evaluation and prediction.
        queue_capacity: Accepted for compatibility; unused, since batches are slices of
            in-memory tensors and nothing is queued. Must be a positive int.
        num_threads: Accepted for compatibility; unused for the same reason. Must be a positive
            int.

    Returns:
        A no-argument ``input_fn``; each call converts the arrays and returns fresh batches.

    Raises:
        ValueError: ``shuffle`` is not a bool; ``batch_size``, ``num_epochs``,
            ``queue_capacity`` or ``num_threads`` is not positive; ``x`` or ``y`` is an empty
            dict; an array has no rows or no leading dimension; arrays differ in length;
            ``x`` and ``y`` share a key.
        TypeError: ``x`` or ``y`` is not an array or dict; an array's dtype has no tensor
            equivalent (e.g. ``datetime64``); an integer argument is not an int.

    Example:
        >>> input_fn = numpy_input_fn({"age": np.array([20.0, 31.0, 42.0])}, np.array([0, 1, 1]),
        ...                           batch_size=2, shuffle=False)
        >>> [(features["age"].tolist(), labels.tolist()) for features, labels in input_fn()]
        [([20.0, 31.0], [0, 1]), ([42.0], [1])]
    """
    check_batching_args(batch_size=batch_size, num_epochs=num_epochs, shuffle=shuffle,
                        queue_capacity=queue_capacity, num_threads=num_threads)
    features = _as_columns(x, "x")
    labels = None if y is None else _as_columns(y, "y")
    if isinstance(features, dict) and isinstance(labels, dict):
        shared = sorted(set(features) & set(labels), key=str)
        if shared:
            raise ValueError(message(
                "x and y share keys", expected="feature and label names to differ",
                fix="Rename the label keys or drop them from x", shared_keys=shared))
    return make_input_fn(features, labels, batch_size, num_epochs, shuffle)


def _as_columns(value: Any, name: str) -> Columns:
    """Validates ``x`` or ``y``: one array, or a non-empty dict of arrays sorted by key."""
    if isinstance(value, Mapping):
        if not value:
            raise ValueError(message(
                f"{name} is an empty dict", expected="at least one array",
                fix="Pass y=None for features-only batches" if name == "y" else None, **{name: value}))
        # Sorted as TensorFlow did; str() keeps mixed key types from failing to compare.
        return {key: as_array(value[key], f"{name}[{key!r}]") for key in sorted(value, key=str)}
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return as_array(value, name)
    raise TypeError(message(
        f"{name} must be an array or a dict of arrays", expected="a numpy array, a tensor or a dict of them",
        fix="Convert it with np.asarray", **{f"type({name})": type(value).__name__}))


def as_array(value: Any, name: str) -> Array:
    """Validates one array (shared with pandas input): a leading row dimension, a tensor-able dtype.

    Example:
        >>> as_array([1, 2, 3], "x").dtype
        dtype('int64')
    """
    array = value if isinstance(value, (np.ndarray, torch.Tensor)) else np.asarray(value)
    if array.ndim == 0:
        raise ValueError(message(
            f"{name} has no leading (row) dimension", expected="an array of shape [num_rows, ...]",
            fix="Pass one value per row", **{name: value}))
    if isinstance(array, np.ndarray) and array.dtype.kind not in _CONVERTIBLE_KINDS:
        raise TypeError(message(
            f"{name} has a dtype with no tensor equivalent",
            expected="a numeric, bool or string dtype",
            fix="Convert it first, e.g. datetimes with .astype('int64')", **{f"{name}.dtype": str(array.dtype)}))
    return array


def check_batching_args(*, batch_size: Any, num_epochs: Any, shuffle: Any, queue_capacity: Any,
                        num_threads: Any) -> None:
    """Validates the arguments ``numpy_input_fn`` and ``pandas_input_fn`` share.

    Example:
        >>> check_batching_args(batch_size=32, num_epochs=None, shuffle=True, queue_capacity=1000, num_threads=1)
    """
    if not isinstance(shuffle, bool):
        raise ValueError(message(
            "shuffle must be provided explicitly as a bool", expected="True or False",
            fix="Pass shuffle=True for training and shuffle=False for evaluation and prediction",
            shuffle=shuffle))
    positive = {"batch_size": batch_size, "queue_capacity": queue_capacity, "num_threads": num_threads}
    if num_epochs is not None:
        positive["num_epochs"] = num_epochs
    for name, value in positive.items():
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise TypeError(message(f"{name} must be an int", expected="a positive int",
                                    **{name: value}))
        if value <= 0:
            raise ValueError(message(
                f"{name} must be positive", expected="an int > 0",
                fix="Use num_epochs=None to repeat forever" if name == "num_epochs" else None,
                **{name: value}))


def make_input_fn(features: Columns, labels: Columns | None, batch_size: int, num_epochs: int | None,
                  shuffle: bool) -> Callable[[], ArrayBatches]:
    """Builds the ``input_fn`` over validated arrays (shared by numpy and pandas input).

    Example:
        >>> input_fn = make_input_fn(np.arange(3), None, batch_size=2, num_epochs=1, shuffle=False)
        >>> [batch.tolist() for batch in input_fn()]
        [[0, 1], [2]]
    """
    num_rows = _num_rows(features, labels)

    def input_fn() -> ArrayBatches:
        return ArrayBatches(_to_tensors(features), None if labels is None else _to_tensors(labels),
                            num_rows, int(batch_size), None if num_epochs is None else int(num_epochs), shuffle)

    return input_fn


def _num_rows(features: Columns, labels: Columns | None) -> int:
    lengths = {"x": _lengths(features), "y": None if labels is None else _lengths(labels)}
    distinct = {n for part in lengths.values() if part is not None
                for n in (part.values() if isinstance(part, dict) else [part])}
    if len(distinct) > 1:
        raise ValueError(message(
            "Arrays in x and y have different lengths", expected="the same number of rows in every array",
            fix="Trim or align the arrays so each row of x has its label", x=lengths["x"], y=lengths["y"]))
    num_rows = distinct.pop()
    if num_rows == 0:
        raise ValueError(message("The input has no rows", expected="at least one row", num_rows=0))
    return num_rows


def _lengths(columns: Columns) -> int | dict[Any, int]:
    if isinstance(columns, dict):
        return {key: int(column.shape[0]) for key, column in columns.items()}
    return int(columns.shape[0])


def _to_tensors(columns: Columns) -> Columns:
    if isinstance(columns, dict):
        return {key: _to_tensor(column) for key, column in columns.items()}
    return _to_tensor(columns)


def _to_tensor(column: Array) -> Array:
    # Torch tensors are always writable, so torch warns on (and would alias) read-only arrays:
    # pandas >= 3 columns and read-only memmaps. A copy is the safe conversion.
    if isinstance(column, np.ndarray) and not column.flags.writeable and column.dtype.kind not in "OUS":
        column = column.copy()
    return to_tensor(column)
