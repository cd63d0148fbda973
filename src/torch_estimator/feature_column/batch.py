"""One batch of features as a layer's columns read it, and the math on batches of ids.

Ids are ``int64 [batch, width]`` tensors with ``-1`` where an example has no (or fewer) values;
per-id weights, when a column has them, have the same shape. Everything here is plain tensor
code, traceable by ``torch.export``: the numpy half (raw values -> ids) is in
:mod:`torch_estimator.export.transforms`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the conventional alias

from torch_estimator.errors import message
from torch_estimator.export import preprocessing
from torch_estimator.export.transforms import StringInput, lookup
from torch_estimator.inputs.structure import to_tensor

COMBINERS = ("mean", "sqrtn", "sum")


class ColumnBatch:
    """The features of one batch, with each categorical column's ids computed once.

    Args:
        features: The ``features`` dict ``model_fn`` received.
        device: Where ids and numeric features go (the layer's device).
        tables: Embedding tables by name (the layer's parameters).
    """

    def __init__(self, features: Any, device: torch.device, tables: Mapping[str, torch.Tensor]) -> None:
        if not isinstance(features, Mapping):
            raise TypeError(message("Feature columns need features as a dict", expected="{feature name: tensor or "
                                    "array}", fix="Return a dict of features from input_fn",
                                    features=type(features).__name__))
        self.features = features
        self.device = device
        self.tables = tables
        self._ids: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def ids(self, column: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(ids, weights or None)`` of a categorical column, on the layer's device."""
        cached = self._ids.get(id(column))
        if cached is None:
            ids = preprocessing.apply(column.transform, self.features).to(self.device)
            weights = None
            if column.weight_feature_key is not None:
                weights = self._weights(column, ids)
            cached = self._ids[id(column)] = (ids, weights)
        return cached

    def tensor(self, key: str, column: str) -> torch.Tensor:
        """The numeric feature ``key`` as a tensor on the layer's device."""
        value = lookup(self.features, key)
        if type(value) is torch.Tensor and value.device == self.device and value.dtype != torch.bool:
            return value  # the per-batch common case: nothing to convert
        if isinstance(value, StringInput):
            raise value.error()
        tensor = to_tensor(value)
        if not isinstance(tensor, torch.Tensor) or tensor.dtype == torch.bool:
            raise TypeError(message(f"Column {column!r} needs numbers in feature {key!r}",
                                    expected="a numeric tensor or array",
                                    fix="Use a categorical column for strings, or cast the feature",
                                    key=key, dtype=str(getattr(tensor, "dtype", type(tensor).__name__))))
        return tensor.to(self.device)

    def _weights(self, column: Any, ids: torch.Tensor) -> torch.Tensor:
        weights = self.tensor(column.weight_feature_key, column.name).to(torch.float32)
        weights = weights.reshape(weights.shape[0], -1)
        if weights.shape[1] != ids.shape[1]:
            raise ValueError(message(
                f"weighted_categorical_column {column.name!r} needs one weight per id",
                expected=f"weights [batch, {ids.shape[1]}], like the ids of {column.categorical_column.name!r}",
                fix="Pad weights and values to the same width", weight_feature_key=column.weight_feature_key,
                weights_shape=tuple(weights.shape), ids_shape=tuple(ids.shape)))
        return weights


def multi_hot(ids: torch.Tensor, weights: torch.Tensor | None, num_buckets: int) -> torch.Tensor:
    """``[batch, num_buckets]`` counts of each id per example (sums of weights when given).

    Example:
        >>> multi_hot(torch.tensor([[1, 1], [2, -1]]), None, 3).tolist()
        [[0.0, 2.0, 0.0], [0.0, 0.0, 1.0]]
    """
    values = (ids >= 0).to(torch.float32)
    if weights is not None:
        values = values * weights
    counts = torch.zeros(ids.shape[0], num_buckets, dtype=torch.float32, device=ids.device)
    return counts.scatter_add(1, ids.clamp(min=0), values)


def combine(table: torch.Tensor, ids: torch.Tensor, weights: torch.Tensor | None, combiner: str,
            max_norm: float | None = None) -> torch.Tensor:
    """Looks up ``ids`` in ``table`` and combines each example's rows: ``[batch, dimension]``.

    TensorFlow's ``safe_embedding_lookup_sparse``: ids < 0 and ids whose weight is <= 0 are
    dropped; an example without ids gets zeros; ``sum`` is the weighted sum, ``mean`` divides
    it by the sum of weights, ``sqrtn`` by the root of the sum of squared weights. ``max_norm``
    scales each looked-up row down to that L2 norm (the table itself is not changed).

    Example:
        >>> table = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
        >>> combine(table, torch.tensor([[0, 1], [-1, -1]]), None, "mean").tolist()
        [[0.5, 1.0], [0.0, 0.0]]
    """
    valid = ids >= 0
    if weights is not None:
        valid = valid & (weights > 0)
        weights = torch.where(valid, weights, torch.zeros_like(weights))
    else:
        weights = valid.to(table.dtype)
    rows = F.embedding(ids.clamp(min=0), table)
    if max_norm is not None:
        rows = rows * (max_norm / rows.norm(dim=-1, keepdim=True).clamp(min=max_norm))
    total = (rows * weights.unsqueeze(-1)).sum(dim=1)
    if combiner == "sum":
        return total
    if combiner == "mean":
        denominator = weights.sum(dim=1, keepdim=True)
    else:  # sqrtn
        denominator = weights.square().sum(dim=1, keepdim=True).sqrt()
    return total / torch.where(denominator > 0, denominator, torch.ones_like(denominator))
