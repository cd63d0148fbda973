"""From whatever ``input_fn`` returned to a stream of ``(features, labels)`` tensor batches."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch

from torch_estimator.errors import ReadableKeyError, message
from torch_estimator.inputs.numpy_io import ArrayBatches
from torch_estimator.inputs.structure import to_tensors

_LEAF = (torch.Tensor, np.ndarray, Mapping)


class FeatureKeyError(ReadableKeyError):
    """A ``model_fn`` read a feature the input does not have."""


class Features(dict):
    """The features dict given to ``model_fn``: a missing key names the keys that exist."""

    def __missing__(self, key: Any) -> Any:
        raise FeatureKeyError(message(
            f"model_fn read feature {key!r}, which the input does not have",
            expected=f"one of the keys input_fn provides: {sorted(map(str, self))}",
            fix="Rename the key in input_fn or in model_fn", key=key))


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


def iterate_batches(result: Any, *, repeat_single: bool, device: torch.device | None) -> Iterator[tuple[Any, Any]]:
    """Yields converted ``(features, labels)`` pairs.

    ``result`` is one batch (a ``(features, labels)`` tuple, or features alone), which training
    repeats and evaluation/prediction use once, or an iterable of batches (a DataLoader, a
    generator, an ``est.inputs`` function's result).
    """
    if device is not None and device.type == "cpu":
        device = None  # CPU tensors need no move; skipping .to() saves microseconds per batch
    if type(result) is ArrayBatches and device is None:
        return result.batches_as(Features)  # already tensors: no conversion pass per batch
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
