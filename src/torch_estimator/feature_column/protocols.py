"""What a feature column is: the protocols the layers read, and column validation.

Columns are frozen dataclasses (hashable, comparable, safe to share). They describe data and
never hold weights: the layer that uses them (:class:`~torch_estimator.feature_column.DenseFeatures`,
:class:`~torch_estimator.feature_column.LinearModel`) creates the weights they ask for.

* A **categorical** column turns a raw feature into ids ``[batch, width]`` (``-1``: none):
  its ``transform`` (numpy, exported as JSON), ``num_buckets`` ids in all, and optionally a
  ``weight_feature_key`` naming a feature of per-id weights.
* A **dense** column produces a float tensor ``[batch, dense_size]`` from a
  :class:`~torch_estimator.feature_column.batch.ColumnBatch`, with the ``tables`` (embedding
  weights) it declares.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

from torch_estimator.errors import message

if TYPE_CHECKING:
    from torch_estimator.feature_column.batch import ColumnBatch


@runtime_checkable
class FeatureColumn(Protocol):
    """Every column: a name (unique within a layer) and the raw features it parses."""

    @property
    def name(self) -> str: ...

    @property
    def parse_example_spec(self) -> dict[str, Any]: ...


@runtime_checkable
class CategoricalColumn(FeatureColumn, Protocol):
    """A column of ids: ``transform`` (raw values -> ids), ``num_buckets``, ``weight_feature_key``."""

    @property
    def num_buckets(self) -> int: ...

    @property
    def transform(self) -> Any: ...

    @property
    def weight_feature_key(self) -> str | None: ...


@runtime_checkable
class DenseColumn(FeatureColumn, Protocol):
    """A column with a dense representation ``[batch, dense_size]``."""

    @property
    def dense_size(self) -> int: ...

    def tables(self) -> tuple[Table, ...]: ...

    def dense(self, batch: ColumnBatch) -> torch.Tensor: ...


@dataclasses.dataclass(frozen=True)
class Table:
    """An embedding table a dense column needs: ``[num_rows, dimension]``, shared by name."""

    name: str
    num_rows: int
    dimension: int
    initializer: Callable[[torch.Tensor], Any]
    trainable: bool = True

    def create(self) -> torch.nn.Parameter:
        weight = torch.empty(self.num_rows, self.dimension)
        with torch.no_grad():
            self.initializer(weight)
        return torch.nn.Parameter(weight, requires_grad=self.trainable)


def truncated_normal(stddev: float) -> Callable[[torch.Tensor], Any]:
    """TensorFlow's ``truncated_normal_initializer(stddev=...)``: normal, redrawn beyond 2 stddev.

    Example:
        >>> weight = torch.empty(100, 4)
        >>> _ = truncated_normal(0.5)(weight)
        >>> bool(weight.abs().max() <= 1.0)
        True
    """

    def initialize(weight: torch.Tensor) -> torch.Tensor:
        return torch.nn.init.trunc_normal_(weight, std=stddev, a=-2 * stddev, b=2 * stddev)

    return initialize


def check(problems: list[str], what: str, expected: str, fix: str, **received: Any) -> None:
    """Raises one ``ValueError`` listing every problem of a column's arguments (none: returns)."""
    if problems:
        raise ValueError(message(f"Invalid {what}: " + "; ".join(problems), expected=expected, fix=fix, **received))


def key_problems(key: Any, argument: str = "key") -> list[str]:
    return [] if isinstance(key, str) and key else [f"{argument} must be a non-empty string"]


def is_int(value: Any) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int_problems(value: Any, argument: str, minimum: int = 1) -> list[str]:
    return [] if is_int(value) and value >= minimum else [f"{argument} must be an int >= {minimum}"]


#: The dtypes a categorical column may declare: strings or integers.
STRING = "string"
INTEGER_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def dtype_problems(dtype: Any) -> list[str]:
    if (isinstance(dtype, str) and dtype == STRING) or (isinstance(dtype, torch.dtype) and dtype in INTEGER_DTYPES):
        return []
    return [f"dtype must be 'string' or an integer torch dtype, not {dtype!r}"]
