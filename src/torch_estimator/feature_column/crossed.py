"""``crossed_column``: ids for combinations of features (``a_X_b``), by hash."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from typing import Any, ClassVar

from torch_estimator.export.transforms import DEFAULT_HASH_KEY, Cross, Raw
from torch_estimator.feature_column.categorical import HashedCategoricalColumn
from torch_estimator.feature_column.parse_spec import VarLenFeature
from torch_estimator.feature_column.protocols import STRING, CategoricalColumn, check, is_int, positive_int_problems


@dataclasses.dataclass(frozen=True)
class CrossedColumn:
    """Made by :func:`crossed_column`; nested crossed columns are flattened into ``keys``."""

    keys: tuple[Any, ...]
    hash_bucket_size: int
    hash_key: int | None = None
    weight_feature_key: ClassVar[None] = None

    def __post_init__(self) -> None:
        keys = _flatten(self.keys) if isinstance(self.keys, Iterable) and not isinstance(self.keys, str) else None
        problems = []
        if keys is None or len(keys) < 2:
            problems.append("keys must be a list of at least 2 feature names or categorical columns")
        for key in keys or ():
            problems += _key_problems(key)
        problems += positive_int_problems(self.hash_bucket_size, "hash_bucket_size")
        if self.hash_key is not None and not (is_int(self.hash_key) and 0 <= self.hash_key < 2 ** 64):
            problems.append("hash_key must be None or an int in [0, 2**64)")
        check(problems, "crossed_column", "keys: feature names (strings) or categorical columns other than "
              "categorical_column_with_hash_bucket and weighted columns; hash_bucket_size >= 1",
              "Fix the listed arguments", keys=self.keys, hash_bucket_size=self.hash_bucket_size)
        object.__setattr__(self, "keys", keys)

    @property
    def name(self) -> str:
        return "_X_".join(sorted(_leaf_name(key) for key in self.keys))

    @property
    def num_buckets(self) -> int:
        return self.hash_bucket_size

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {}
        for key in self.keys:
            spec.update({key: VarLenFeature(STRING)} if isinstance(key, str) else key.parse_example_spec)
        return spec

    @functools.cached_property
    def transform(self) -> Cross:
        # Parts in name order, so crossed_column(['a', 'b']) and (['b', 'a']), both named a_X_b,
        # also give the same ids.
        parts = tuple(Raw(key) if isinstance(key, str) else key.transform
                      for key in sorted(self.keys, key=_leaf_name))
        return Cross(parts, self.hash_bucket_size, DEFAULT_HASH_KEY if self.hash_key is None else self.hash_key)


def crossed_column(keys: Iterable[Any], hash_bucket_size: int, hash_key: int | None = None) -> CrossedColumn:
    """Ids for every combination of the values of ``keys``, hashed into ``hash_bucket_size``.

    A key is a raw feature's name (its strings or integers are fingerprinted as they are) or a
    categorical column (its ids are hashed), e.g. a ``bucketized_column``. For 2-D
    (multi-valued) features, an example gets one id per combination of its values; a
    combination with a missing value gets none. Use the crossed column through
    ``indicator_column``, ``embedding_column`` or a linear model.

    Args:
        keys: At least two feature names or categorical columns (not
            ``categorical_column_with_hash_bucket``: hash the raw feature by naming it instead;
            not weighted columns). Crossed columns among them are flattened.
        hash_bucket_size: The number of ids.
        hash_key: Seeds the hash; None uses TensorFlow's default ``0xDECAFCAFFE``.

    Returns:
        A categorical column named ``<name>_X_<name>...`` (names sorted, as TensorFlow).

    Raises:
        ValueError: listing every invalid argument.

    Example:
        >>> import numpy as np
        >>> from torch_estimator import feature_column as fc
        >>> column = crossed_column([fc.bucketized_column(fc.numeric_column("x"), [0.0]), "city"], 50)
        >>> column.name
        'city_X_x_bucketized'
        >>> column.transform({"x": np.array([1.0, 1.0]), "city": np.array(["Oslo", "Oslo"])}).shape
        (2, 1)
    """
    return CrossedColumn(keys, hash_bucket_size, hash_key)


def _flatten(keys: Iterable[Any]) -> tuple[Any, ...]:
    flat: list[Any] = []
    for key in keys:
        flat.extend(key.keys if isinstance(key, CrossedColumn) else [key])
    return tuple(flat)


def _key_problems(key: Any) -> list[str]:
    if isinstance(key, str):
        return [] if key else ["a key must not be an empty string"]
    if isinstance(key, HashedCategoricalColumn):
        return [f"categorical_column_with_hash_bucket {key.name!r} cannot be crossed (hashing before crossing "
                "raises the probability of collisions): use the feature name as a string instead"]
    if not isinstance(key, CategoricalColumn):
        return [f"unsupported key {key!r}: keys must be strings or categorical columns"]
    if key.weight_feature_key is not None:
        return [f"weighted column {key.name!r} cannot be crossed (crosses have no weights)"]
    return []


def _leaf_name(key: Any) -> str:
    return key if isinstance(key, str) else key.name
