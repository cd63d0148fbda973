"""``make_parse_example_spec``: the raw features a set of columns reads, with their types.

TensorFlow returned ``tf.io.FixedLenFeature`` / ``VarLenFeature`` objects for
``tf.io.parse_example``; these are the same descriptions as small frozen dataclasses, useful to
build a serving receiver or a CSV schema from the columns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import torch

from torch_estimator.errors import message
from torch_estimator.feature_column.protocols import FeatureColumn


@dataclasses.dataclass(frozen=True)
class FixedLenFeature:
    """A feature with ``shape`` values per example (``tf.io.FixedLenFeature``).

    Attributes:
        shape: Values per example, e.g. ``(1,)``.
        dtype: A torch dtype.
        default_value: The value for a missing feature (None: a missing feature is an error).
    """

    shape: tuple[int, ...]
    dtype: torch.dtype
    default_value: Any = None


@dataclasses.dataclass(frozen=True)
class VarLenFeature:
    """A feature with any number of values per example (``tf.io.VarLenFeature``).

    Attributes:
        dtype: ``'string'``, an integer or a float torch dtype.
    """

    dtype: Any


def make_parse_example_spec(feature_columns: Iterable[Any]) -> dict[str, Any]:
    """Feature key -> :class:`FixedLenFeature` or :class:`VarLenFeature` for ``feature_columns``.

    Args:
        feature_columns: Columns (derived columns contribute the raw features they read).

    Returns:
        A dict keyed by raw feature name.

    Raises:
        ValueError: an item is not a feature column, or two columns read one key differently.

    Example:
        >>> from torch_estimator import feature_column as fc
        >>> spec = make_parse_example_spec([
        ...     fc.bucketized_column(fc.numeric_column("age"), [18, 65]),
        ...     fc.indicator_column(fc.categorical_column_with_vocabulary_list("type", ["house", "apt"]))])
        >>> spec["age"], spec["type"]
        (FixedLenFeature(shape=(1,), dtype=torch.float32, default_value=None), VarLenFeature(dtype='string'))
    """
    result: dict[str, Any] = {}
    for column in feature_columns:
        if not isinstance(column, FeatureColumn):
            raise ValueError(message("All feature_columns must be feature columns",
                                     expected="columns made by est.feature_column", column=column))
        for key, spec in column.parse_example_spec.items():
            if key in result and result[key] != spec:
                raise ValueError(message(f"feature_columns contain different parse_spec for key {key!r}",
                                         expected="one description per key", fix="Give both columns the same dtype "
                                         "and shape", first=result[key], second=spec))
            result[key] = spec
    return result
