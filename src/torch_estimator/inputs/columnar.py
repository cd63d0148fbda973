"""Scalar float columns packed into one table, so one batch of them is one tensor.

A model over numeric features (``numeric_column``\\ s through ``input_layer``, as every canned
estimator on a table's numbers) needs them as one ``[batch, columns]`` matrix, while the
``features`` dict hands them out one column at a time. Slicing each column for every batch and
stacking the slices back together costs a tensor per column per step, which for a small
network is as much time as the network's own arithmetic.

:class:`PackedColumns` keeps the 1-D float32 columns of an in-memory input (numpy, pandas) side
by side in one ``[rows, columns]`` tensor, made once per ``input_fn`` call. A batch of them is
then one slice (or one ``index_select`` when shuffled); the ``features`` dict gets each column
as a view of that batch (``unbind``, one call for all of them), and the batch comes with a
:class:`ColumnBlock` from which the column layers read the whole matrix at once
(``DenseFeatures`` as its output, ``LinearModel`` in one product), as long as the dict still
holds those very views. ``loops.batches.LazyFeatures`` goes further for canned estimators:
it makes the views only if something reads the dict.

The price is one copy of those columns per ``input_fn`` call (float64 columns were copied
anyway, to float32). Columns are strided views of the batch, not contiguous tensors; call
``.contiguous()`` where an operation needs contiguous memory.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch

__all__ = ["ColumnBlock", "PackedColumns", "holds_views"]


class ColumnBlock(NamedTuple):
    """One batch of packed columns: ``values[:, i]`` is feature ``keys[i]``.

    Attributes:
        keys: The features packed, in the table's order.
        values: ``[batch, len(keys)]`` float32, contiguous.
        columns: ``values.unbind(1)``: the tensors the ``features`` dict was given; empty while
            the dict has not made them (``LazyFeatures``), so nothing can have replaced them.
    """

    keys: tuple[Any, ...]
    values: torch.Tensor
    columns: tuple[torch.Tensor, ...]


def holds_views(features: Mapping[Any, Any], keys: tuple[Any, ...], columns: tuple[torch.Tensor, ...]) -> bool:
    """Whether ``features[keys[i]]`` is still the very tensor ``columns[i]``, for every ``i``.

    A ``model_fn`` may replace a feature (``features["x"] = features["x"] * 2``) before it
    reaches a layer; then the block no longer describes the features and must not be used.
    In-place changes to a view change the block too, so they need no check.

    Example:
        >>> values = torch.zeros(2, 2)
        >>> block = ColumnBlock(("a", "b"), values, values.unbind(1))
        >>> features = dict(zip(block.keys, block.columns))
        >>> holds_views(features, block.keys, block.columns)
        True
        >>> holds_views({**features, "b": torch.ones(2)}, block.keys, block.columns)
        False
    """
    return all(map(operator.is_, map(features.get, keys), columns))


class PackedColumns:
    """The 1-D float32 tensor columns of a features dict, packed into one ``[rows, k]`` table.

    Args:
        columns: Converted features (tensors, numpy string arrays), in the order the features
            dict should have.

    Attributes:
        keys: The packed features, in the dict's order.
        table: ``[rows, len(keys)]`` float32.
        others: The features that are not packed (other dtypes, shapes; strings).
        order: Every feature key, in the dict's order.

    Example:
        >>> packed = PackedColumns.pack({"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([3.0, 4.0])})
        >>> features, block = packed.split(packed.rows(slice(1, 2)), others={})
        >>> features, block.values
        ({'a': tensor([2.]), 'b': tensor([4.])}, tensor([[2., 4.]]))
    """

    def __init__(self, keys: tuple[Any, ...], table: torch.Tensor, others: dict[Any, Any],
                 order: tuple[Any, ...]) -> None:
        self.keys = keys
        self.table = table
        self.others = others
        self.order = order
        # The dict is the views in table order, then the others, unless that changes its order.
        self._reorder = order != keys + tuple(others)

    @classmethod
    def pack(cls, columns: dict[Any, Any]) -> PackedColumns | None:
        """Packs the 1-D float32 tensors of ``columns``; None when there are fewer than two.

        A tensor that requires grad is left out: copied into the table, it would tie every
        batch to one autograd graph, which the first backward pass frees.
        """
        floats = [key for key, column in columns.items() if type(column) is torch.Tensor
                  and column.ndim == 1 and column.dtype == torch.float32 and not column.requires_grad]
        device = columns[floats[0]].device if floats else None
        keys = tuple(key for key in floats if columns[key].device == device)
        if len(keys) < 2:
            return None
        # Filled a column at a time: 5x faster than torch.stack(dim=1) for long columns.
        table = torch.empty(len(columns[keys[0]]), len(keys), dtype=torch.float32, device=device)
        for index, key in enumerate(keys):
            table[:, index] = columns[key]
        packed = set(keys)
        others = {key: column for key, column in columns.items() if key not in packed}
        return cls(keys, table, others, tuple(columns))

    def rows(self, rows: slice | torch.Tensor) -> torch.Tensor:
        """The table's ``rows`` (a view for a slice), ``[batch, len(keys)]``."""
        return self.table[rows] if type(rows) is slice else self.table.index_select(0, rows)

    def split(self, values: torch.Tensor, others: dict[Any, Any],
              features_type: Callable[[Any], dict] = dict) -> tuple[dict[Any, Any], ColumnBlock]:
        """``(features, block)`` of one batch: ``values`` are the table's rows, ``others`` the
        unpacked features' rows, and ``features_type`` makes the dict from key-value pairs."""
        columns = values.unbind(1)
        if not others:
            return features_type(zip(self.keys, columns)), ColumnBlock(self.keys, values, columns)
        features = dict(zip(self.keys, columns))
        features.update(others)
        if self._reorder:
            features = {key: features[key] for key in self.order}
        return features_type(features), ColumnBlock(self.keys, values, columns)
