"""From whatever ``input_fn`` returned to a stream of ``(features, labels)`` tensor batches."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch

from torch_estimator.errors import ReadableKeyError, message
from torch_estimator.inputs.columnar import ColumnBlock, PackedColumns
from torch_estimator.inputs.numpy_io import ArrayBatches
from torch_estimator.inputs.structure import to_tensors

_LEAF = (torch.Tensor, np.ndarray, Mapping)


class FeatureKeyError(ReadableKeyError):
    """A ``model_fn`` read a feature the input does not have."""


class Features(dict):
    """The features dict given to ``model_fn``: a missing key names the keys that exist.

    ``column_block`` is set on batches from numpy/pandas input whose scalar float columns are
    packed together (:class:`~torch_estimator.inputs.columnar.ColumnBlock`).
    """

    column_block: ColumnBlock | None = None

    @classmethod
    def from_packed(cls, packed: PackedColumns, values: torch.Tensor, others: dict[Any, Any]) -> Features:
        """A batch of packed columns: each column a view of ``values``, the block attached."""
        features, block = packed.split(values, others, cls)
        features.column_block = block
        return features

    def __missing__(self, key: Any) -> Any:
        raise FeatureKeyError(message(
            f"model_fn read feature {key!r}, which the input does not have",
            expected=f"one of the keys input_fn provides: {sorted(map(str, self))}",
            fix="Rename the key in input_fn or in model_fn", key=key))


class LazyFeatures(Features):
    """Features whose packed columns are made only when something reads the dict.

    A canned estimator's network takes its numeric input from the batch's block whole
    (``DenseFeatures``), so the per-column views of the block, and the dict holding them, would
    be made every step and never read. Here the dict starts empty: the first use of any dict
    method makes every column at once and turns the object into a plain :class:`Features`
    (``__class__`` assignment), so from then on it is an ordinary dict at full speed.

    C code that reads a dict's storage directly (``PyDict_Next``: pybind11 arguments,
    TorchScript) would see an empty dict, which is why the loops give these only to a
    ``model_fn`` marked ``lazy_features = True``: the canned estimators', whose code reads
    features through Python's dict methods only. ``input_layer`` then returns the batch's block
    itself, for an in-order batch a view of the input's table: such a ``model_fn`` must not
    write to it in place (the canned networks only read it), or later epochs read the change.
    """

    _pending: tuple[PackedColumns, torch.Tensor, dict[Any, Any]]

    def __new__(cls, *args: Any, **kwargs: Any) -> Features:  # type: ignore[misc]
        # Only from_packed makes a lazy batch; anything else (type(features)(pairs), say) has
        # nothing to defer and gets a plain Features, made whole here (Python then skips
        # __init__, as the object is not a LazyFeatures).
        return Features(*args, **kwargs)

    @classmethod
    def from_packed(cls, packed: PackedColumns, values: torch.Tensor, others: dict[Any, Any]) -> LazyFeatures:
        features = dict.__new__(cls)
        features._pending = (packed, values, others)
        features.column_block = ColumnBlock(packed.keys, values, ())
        return features

    def materialize(self) -> None:
        """Makes the columns, after which this is a plain :class:`Features`."""
        packed, values, others = self.__dict__.pop("_pending")
        features, self.column_block = packed.split(values, others)
        dict.update(self, features)
        self.__class__ = Features


def _materializing(name: str) -> Callable[..., Any]:
    def method(self: LazyFeatures, *args: Any, **kwargs: Any) -> Any:
        self.materialize()
        return getattr(self, name)(*args, **kwargs)  # now Features' (dict's) own method

    method.__name__ = method.__qualname__ = name
    return method


# Every dict method that reads or changes the contents (the rest do not touch them).
for _name in ("__contains__", "__delitem__", "__eq__", "__getitem__", "__ior__", "__iter__", "__len__", "__ne__",
              "__or__", "__reduce__", "__reduce_ex__", "__repr__", "__reversed__", "__ror__", "__setitem__",
              "__sizeof__", "clear", "copy", "get", "items", "keys", "pop", "popitem", "setdefault", "update",
              "values"):
    setattr(LazyFeatures, _name, _materializing(_name))


def split_batch(batch: Any, where: str) -> tuple[Any, Any]:
    """``(features, labels)`` from one element: a 2-tuple, or features alone."""
    if isinstance(batch, tuple) and len(batch) == 2:
        return batch
    if isinstance(batch, (list, tuple)) and len(batch) in (1, 2) and isinstance(batch[0], _LEAF):
        return (batch[0], batch[1]) if len(batch) == 2 else (batch[0], None)
    if isinstance(batch, _LEAF):
        return batch, None
    raise TypeError(message(f"{where} yielded an element that is not a batch",
                            expected="a (features, labels) tuple, or features alone (a tensor, array or dict)",
                            fix="Return (features, labels) from input_fn or from its iterable",
                            element=type(batch).__name__))


def iterate_batches(result: Any, *, repeat_single: bool, device: torch.device | None,
                    lazy_features: bool = False) -> Iterator[tuple[Any, Any]]:
    """Yields converted ``(features, labels)`` pairs.

    ``result`` is one batch (a ``(features, labels)`` tuple, or features alone), which training
    repeats and evaluation/prediction use once, or an iterable of batches (a DataLoader, a
    generator, an ``est.inputs`` function's result). ``lazy_features``: batches of packed
    columns may be :class:`LazyFeatures` (for a ``model_fn`` marked ``lazy_features``).
    """
    if device is not None and device.type == "cpu":
        device = None  # CPU tensors need no move; skipping .to() saves microseconds per batch
    if type(result) is ArrayBatches:  # already tensors: no conversion pass per batch
        return result.batches_as(LazyFeatures if lazy_features and result.packed else Features, device)
    if isinstance(result, (tuple, *_LEAF)):
        single = split_batch(result, "input_fn")
        source: Iterable[Any] = itertools.repeat(single) if repeat_single else (single,)
        return (_convert(batch, device) for batch in source)
    if result is None or isinstance(result, (str, bytes)) or not isinstance(result, Iterable):
        raise TypeError(message("input_fn returned something that is neither a batch nor an iterable of batches",
                                expected="(features, labels), features, or an iterable of them "
                                         "(DataLoader, generator)",
                                fix="Return a batch or an iterable of batches", returned=type(result).__name__))
    return (_convert(split_batch(batch, "input_fn's iterable"), device) for batch in result)


def _convert(batch: tuple[Any, Any], device: torch.device | None) -> tuple[Any, Any]:
    features, labels = batch
    features = to_tensors(features, device)
    if isinstance(features, dict):
        features = Features(features)
    return features, to_tensors(labels, device)
