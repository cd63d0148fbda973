"""Dense columns: numbers, buckets, indicators and embeddings, as ``[batch, dense_size]`` floats.

The tensor half of each column lives here (traced into exports); the id conversion of the
categorical columns they wrap runs before, in numpy (see :mod:`torch_estimator.export.preprocessing`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np
import torch

from torch_estimator.errors import message
from torch_estimator.export.transforms import Bucketize
from torch_estimator.feature_column.batch import COMBINERS, ColumnBatch, combine, multi_hot
from torch_estimator.feature_column.parse_spec import FixedLenFeature
from torch_estimator.feature_column.protocols import (
    CategoricalColumn,
    Table,
    check,
    key_problems,
    positive_int_problems,
    truncated_normal,
)


@dataclasses.dataclass(frozen=True)
class NumericColumn:
    """Made by :func:`numeric_column`."""

    key: str
    shape: tuple[int, ...] = (1,)
    default_value: Any = None
    dtype: torch.dtype = torch.float32
    normalizer_fn: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __post_init__(self) -> None:
        shape = (self.shape,) if isinstance(self.shape, int) else self.shape
        problems = key_problems(self.key)
        if not isinstance(shape, Iterable) or not shape or any(positive_int_problems(d, "") for d in shape):
            problems.append("shape dimensions must be ints greater than 0")
            shape = None
        else:
            shape = tuple(int(d) for d in shape)
        if not isinstance(self.dtype, torch.dtype) or not (self.dtype.is_floating_point or self.dtype in (
                torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
            problems.append(f"dtype must be convertible to float, not {self.dtype!r}")
        default = _default_value(self.default_value, shape, problems)
        if self.normalizer_fn is not None and not callable(self.normalizer_fn):
            problems.append("normalizer_fn must be a callable")
        check(problems, f"numeric_column for {self.key!r}", "a positive shape such as (1,) or (3,), a float or integer "
              "torch dtype, a default_value of that shape, and a callable or None as normalizer_fn",
              "Fix the listed arguments", shape=self.shape, default_value=self.default_value, dtype=self.dtype)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "default_value", default)

    @property
    def name(self) -> str:
        return self.key

    @functools.cached_property
    def dense_size(self) -> int:
        return math.prod(self.shape)

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return {self.key: FixedLenFeature(self.shape, self.dtype, self.default_value)}

    def tables(self) -> tuple[Table, ...]:
        return ()

    def dense(self, batch: ColumnBatch) -> torch.Tensor:
        values = batch.tensor(self.key, self.name)
        if values.ndim == 0 or math.prod(values.shape[1:]) != self.dense_size:
            raise ValueError(message(f"numeric_column {self.key!r} got the wrong shape",
                                     expected=f"[batch, {', '.join(map(str, self.shape))}] (or [batch] for shape (1,))",
                                     fix="Give the column the feature's shape", shape=tuple(values.shape)))
        if self.normalizer_fn is None and values.dtype == self.dtype == torch.float32:
            return values.reshape(values.shape[0], self.dense_size)  # the common case, on every batch: one op
        values = values.reshape(values.shape[0], *self.shape).to(self.dtype)
        if self.normalizer_fn is not None:
            values = self.normalizer_fn(values)
        return values.reshape(values.shape[0], self.dense_size).to(torch.float32)


def _default_value(value: Any, shape: tuple[int, ...] | None, problems: list[str]) -> Any:
    """TensorFlow's rule: a number (repeated to ``shape``) or nested values of ``shape``; as tuples."""
    if value is None or shape is None:
        return value
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        array = np.full(shape, value)
    else:
        try:
            array = np.asarray(value)
        except ValueError:
            array = np.empty(0)
        if array.shape != shape or array.dtype.kind not in "iuf":
            problems.append(f"the shape of default_value must equal shape {shape}")
            return value
    return _tuples(array.tolist())


def _tuples(value: Any) -> Any:
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def numeric_column(key: str, shape: int | Iterable[int] = (1,), default_value: Any = None,
                   dtype: torch.dtype = torch.float32,
                   normalizer_fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> NumericColumn:
    """A column of numbers: the feature as a float32 ``[batch, prod(shape)]`` tensor.

    Args:
        key: The feature's name.
        shape: Values per example: an int or a tuple, e.g. ``(1,)`` (a ``[batch]`` feature is
            accepted for it) or ``(3,)``.
        default_value: The value of a missing feature when parsing (see
            :func:`make_parse_example_spec`); a number or nested values of ``shape``.
        dtype: The feature's dtype (a float or integer torch dtype); the output is float32.
        normalizer_fn: A tensor function applied to ``[batch, *shape]`` values before they are
            flattened, e.g. ``lambda x: (x - 3.0) / 4.2``; it is traced into exports.

    Returns:
        A dense column named ``key``.

    Raises:
        ValueError: listing every invalid argument.

    Example:
        >>> numeric_column("price", normalizer_fn=lambda x: x / 1000.0).dense_size
        1
        >>> numeric_column("pixels", shape=(2, 3), default_value=0.0).default_value
        ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    """
    return NumericColumn(key, shape, default_value, dtype, normalizer_fn)


@dataclasses.dataclass(frozen=True)
class BucketizedColumn:
    """Made by :func:`bucketized_column`: dense (one-hot) and categorical (bucket ids)."""

    source_column: NumericColumn
    boundaries: tuple[float, ...]
    weight_feature_key: ClassVar[None] = None

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.source_column, NumericColumn):
            problems.append("source_column must be a column made by numeric_column()")
        elif len(self.source_column.shape) != 1:
            problems.append("source_column must be one-dimensional (shape (n,))")
        elif self.source_column.normalizer_fn is not None:
            problems.append("source_column must not have a normalizer_fn (bucketizing happens in the exported "
                            "preprocessing, which cannot run Python functions): normalize the boundaries instead")
        boundaries = tuple(self.boundaries) if isinstance(self.boundaries, (list, tuple, np.ndarray)) else None
        if not boundaries:
            problems.append("boundaries must be a non-empty sorted list")
        elif not all(isinstance(b, numbers.Real) and not isinstance(b, bool) for b in boundaries) or any(
                a >= b for a, b in zip(boundaries, boundaries[1:])):
            problems.append("boundaries must be a sorted list of numbers without repeats")
        check(problems, "bucketized_column", "a one-dimensional numeric_column and a sorted list of boundaries",
              "Fix the listed arguments", source_column=self.source_column, boundaries=self.boundaries)
        object.__setattr__(self, "boundaries", tuple(float(b) for b in boundaries))

    @property
    def name(self) -> str:
        return f"{self.source_column.name}_bucketized"

    @property
    def num_buckets(self) -> int:
        return self.source_column.shape[0] * (len(self.boundaries) + 1)

    @property
    def dense_size(self) -> int:
        return self.num_buckets

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return self.source_column.parse_example_spec

    @functools.cached_property
    def transform(self) -> Bucketize:
        return Bucketize(self.source_column.key, self.boundaries, self.source_column.shape[0])

    def tables(self) -> tuple[Table, ...]:
        return ()

    def dense(self, batch: ColumnBatch) -> torch.Tensor:
        ids, _ = batch.ids(self)
        return multi_hot(ids, None, self.num_buckets)


def bucketized_column(source_column: NumericColumn, boundaries: Iterable[float]) -> BucketizedColumn:
    """Buckets a numeric column: value ``v`` -> bucket ``i`` with ``boundaries[i-1] <= v < boundaries[i]``.

    ``boundaries=[0., 1., 2.]`` gives the buckets ``(-inf, 0.)``, ``[0., 1.)``, ``[1., 2.)``
    and ``[2., +inf)``. As a dense column the output is one-hot (``[batch, len(boundaries)
    + 1]`` per source value); as a categorical column (in ``crossed_column``,
    ``embedding_column``, linear models) the ids are the bucket numbers.

    Args:
        source_column: A one-dimensional :func:`numeric_column` without ``normalizer_fn``.
        boundaries: Strictly increasing numbers.

    Returns:
        A column named ``<key>_bucketized``.

    Raises:
        ValueError: listing every invalid argument.

    Example:
        >>> import numpy as np
        >>> column = bucketized_column(numeric_column("age"), [18, 65])
        >>> column.name, column.transform({"age": np.array([10.0, 18.0, 70.0])}).ravel().tolist()
        ('age_bucketized', [0, 1, 2])
    """
    return BucketizedColumn(source_column, boundaries)


@dataclasses.dataclass(frozen=True)
class IndicatorColumn:
    """Made by :func:`indicator_column`."""

    categorical_column: Any

    def __post_init__(self) -> None:
        check([] if isinstance(self.categorical_column, CategoricalColumn) else
              ["categorical_column must be a categorical column"], "indicator_column",
              "a column made by a categorical_column_* function, bucketized_column or crossed_column",
              "Pass a categorical column", categorical_column=self.categorical_column)

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_indicator"

    @property
    def dense_size(self) -> int:
        return self.categorical_column.num_buckets

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return self.categorical_column.parse_example_spec

    def tables(self) -> tuple[Table, ...]:
        return ()

    def dense(self, batch: ColumnBatch) -> torch.Tensor:
        ids, weights = batch.ids(self.categorical_column)
        return multi_hot(ids, weights, self.dense_size)


def indicator_column(categorical_column: Any) -> IndicatorColumn:
    """A multi-hot view of a categorical column: ``[batch, num_buckets]`` counts of each id.

    An example with the values ``['a', 'a', 'b']`` gets 2 at the id of ``'a'`` and 1 at that
    of ``'b'``; with a weighted column, the sums of the weights.

    Args:
        categorical_column: The column of ids.

    Returns:
        A dense column named ``<column>_indicator``.

    Raises:
        ValueError: ``categorical_column`` is not a categorical column.

    Example:
        >>> from torch_estimator import feature_column as fc
        >>> column = indicator_column(fc.categorical_column_with_vocabulary_list("type", ["house", "apt"]))
        >>> column.name, column.dense_size
        ('type_indicator', 2)
    """
    return IndicatorColumn(categorical_column)


def _embedding_problems(dimension: Any, combiner: Any, initializer: Any, max_norm: Any) -> list[str]:
    problems = positive_int_problems(dimension, "dimension")
    if combiner not in COMBINERS:
        problems.append(f"combiner must be one of {COMBINERS}")
    if initializer is not None and not callable(initializer):
        problems.append("initializer must be callable if specified")
    if max_norm is not None and not (isinstance(max_norm, numbers.Real) and max_norm > 0):
        problems.append("max_norm must be None or a positive number")
    return problems


_EMBEDDING_EXPECTED = ("dimension >= 1, combiner 'mean', 'sqrtn' or 'sum', an in-place "
                       "initializer such as lambda w: torch.nn.init.normal_(w, std=0.01), max_norm > 0 or None")


@dataclasses.dataclass(frozen=True)
class EmbeddingColumn:
    """Made by :func:`embedding_column`."""

    categorical_column: Any
    dimension: int
    combiner: str = "mean"
    initializer: Callable[[torch.Tensor], Any] | None = None
    max_norm: float | None = None
    trainable: bool = True

    def __post_init__(self) -> None:
        problems = [] if isinstance(self.categorical_column, CategoricalColumn) else [
            "categorical_column must be a categorical column"]
        problems += _embedding_problems(self.dimension, self.combiner, self.initializer, self.max_norm)
        check(problems, "embedding_column", "a categorical column, " + _EMBEDDING_EXPECTED, "Fix the listed arguments",
              categorical_column=self.categorical_column, dimension=self.dimension, combiner=self.combiner,
              max_norm=self.max_norm)

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_embedding"

    @property
    def dense_size(self) -> int:
        return self.dimension

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return self.categorical_column.parse_example_spec

    def tables(self) -> tuple[Table, ...]:
        initializer = self.initializer or truncated_normal(1 / math.sqrt(self.dimension))
        return (Table(self.name, self.categorical_column.num_buckets, self.dimension, initializer, self.trainable),)

    def dense(self, batch: ColumnBatch) -> torch.Tensor:
        ids, weights = batch.ids(self.categorical_column)
        return combine(batch.tables[self.name], ids, weights, self.combiner, self.max_norm)


def embedding_column(categorical_column: Any, dimension: int, combiner: str = "mean",
                     initializer: Callable[[torch.Tensor], Any] | None = None, max_norm: float | None = None,
                     trainable: bool = True) -> EmbeddingColumn:
    """A dense, trained ``[batch, dimension]`` representation of a categorical column.

    Each id has a row in a ``[num_buckets, dimension]`` table (``embedding_weights``); an
    example's rows are combined with ``combiner``: ``'mean'`` (default), ``'sqrtn'`` or
    ``'sum'``, weighted by a weighted column's weights. Examples without ids get zeros.

    Args:
        categorical_column: The column of ids.
        dimension: The embedding size.
        combiner: How an example's several ids are combined.
        initializer: Fills the table in place, torch.nn.init style (``lambda w:
            torch.nn.init.normal_(w, std=0.01)``); default: truncated normal with standard
            deviation ``1 / sqrt(dimension)``, TensorFlow's.
        max_norm: If set, looked-up rows are scaled down to this L2 norm.
        trainable: False freezes the table.

    Returns:
        A dense column named ``<column>_embedding``.

    Raises:
        ValueError: listing every invalid argument.

    Example:
        >>> from torch_estimator import feature_column as fc
        >>> column = embedding_column(fc.categorical_column_with_hash_bucket("city", 1000), dimension=8)
        >>> column.name, column.tables()[0].num_rows
        ('city_embedding', 1000)
    """
    return EmbeddingColumn(categorical_column, dimension, combiner, initializer, max_norm, trainable)


@dataclasses.dataclass(frozen=True)
class SharedEmbeddingColumn:
    """Made by :func:`shared_embeddings`: one of several columns reading one table."""

    categorical_column: Any
    dimension: int
    shared_embedding_collection_name: str
    num_rows: int
    combiner: str = "mean"
    initializer: Callable[[torch.Tensor], Any] | None = None
    max_norm: float | None = None
    trainable: bool = True

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_shared_embedding"

    @property
    def dense_size(self) -> int:
        return self.dimension

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return self.categorical_column.parse_example_spec

    def tables(self) -> tuple[Table, ...]:
        initializer = self.initializer or truncated_normal(1 / math.sqrt(self.dimension))
        return (Table(self.shared_embedding_collection_name, self.num_rows, self.dimension, initializer,
                      self.trainable),)

    def dense(self, batch: ColumnBatch) -> torch.Tensor:
        ids, weights = batch.ids(self.categorical_column)
        return combine(batch.tables[self.shared_embedding_collection_name], ids, weights, self.combiner, self.max_norm)


def shared_embeddings(categorical_columns: Iterable[Any], dimension: int, combiner: str = "mean",
                      initializer: Callable[[torch.Tensor], Any] | None = None,
                      shared_embedding_collection_name: str | None = None, max_norm: float | None = None,
                      trainable: bool = True) -> list[SharedEmbeddingColumn]:
    """Embedding columns that share one table, e.g. for a query and a document vocabulary.

    The table is shared by the columns used in one layer (one ``input_layer`` or
    :class:`DenseFeatures`), and named ``shared_embedding_collection_name``.

    Args:
        categorical_columns: Categorical columns with the same ``num_buckets``.
        dimension, combiner, initializer, max_norm, trainable: As in :func:`embedding_column`.
        shared_embedding_collection_name: The table's name; default: the columns' names,
            sorted and joined by ``_``, plus ``_shared_embedding``.

    Returns:
        One dense column per categorical column, in order, named ``<column>_shared_embedding``.

    Raises:
        ValueError: listing every invalid argument (different ``num_buckets`` included).

    Example:
        >>> from torch_estimator import feature_column as fc
        >>> a, b = (fc.categorical_column_with_identity(key, 100) for key in ("query", "doc"))
        >>> [column.shared_embedding_collection_name for column in shared_embeddings([a, b], 4)]
        ['doc_query_shared_embedding', 'doc_query_shared_embedding']
    """
    columns = list(categorical_columns) if isinstance(categorical_columns, Iterable) else []
    problems = [] if columns else ["categorical_columns must be a non-empty list"]
    if not all(isinstance(column, CategoricalColumn) for column in columns):
        problems.append("every item of categorical_columns must be a categorical column")
    problems += _embedding_problems(dimension, combiner, initializer, max_norm)
    buckets = {c.name: c.num_buckets for c in columns if isinstance(c, CategoricalColumn)}
    if len(set(buckets.values())) > 1:
        problems.append(f"all categorical_columns must have the same number of buckets, not {buckets}")
    if shared_embedding_collection_name is not None and not (
            isinstance(shared_embedding_collection_name, str) and shared_embedding_collection_name):
        problems.append("shared_embedding_collection_name must be None or a non-empty string")
    check(problems, "shared_embeddings", "categorical columns with one num_buckets, " + _EMBEDDING_EXPECTED,
          "Fix the listed arguments", categorical_columns=categorical_columns, dimension=dimension, combiner=combiner)
    name = shared_embedding_collection_name or "_".join(sorted(c.name for c in columns)) + "_shared_embedding"
    return [SharedEmbeddingColumn(column, dimension, name, column.num_buckets, combiner, initializer, max_norm,
                                  trainable) for column in columns]
