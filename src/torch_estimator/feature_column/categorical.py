"""Categorical columns: raw strings or integers -> ids, by vocabulary, identity or hash.

Each column is a frozen dataclass validated at construction (every problem reported at once)
whose ``transform`` is the numpy id conversion of :mod:`torch_estimator.export.transforms`.
Ids follow TensorFlow: in-vocabulary values get their index; out-of-vocabulary values get
``default_value`` (``-1``: no id, so no contribution) or one of ``num_oov_buckets`` extra ids
chosen by hash; ``''``, ``None`` and ``-1`` in the input are missing values and get no id.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import os
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import torch

from torch_estimator.export.transforms import HashBucket, Identity, VocabularyLookup
from torch_estimator.feature_column.parse_spec import VarLenFeature
from torch_estimator.feature_column.protocols import (
    STRING,
    CategoricalColumn,
    check,
    dtype_problems,
    is_int,
    key_problems,
    positive_int_problems,
)


def _transform_dtype(dtype: Any) -> str:
    return STRING if dtype == STRING else "int64"


def _vocabulary_problems(vocabulary: tuple[Any, ...], dtype: Any, default_value: Any,
                         num_oov_buckets: Any) -> list[str]:
    """What is wrong with a vocabulary and its out-of-vocabulary settings (lists and files)."""
    problems = []
    if not vocabulary:
        problems.append("the vocabulary must not be empty")
    elif not (all(isinstance(v, str) for v in vocabulary) or all(is_int(v) for v in vocabulary)):
        problems.append("the vocabulary must hold only strings or only integers")
    else:
        duplicates = sorted(value for value, count in collections.Counter(vocabulary).items() if count > 1)
        if duplicates:
            problems.append(f"the vocabulary has duplicates {duplicates[:5]}")
        if isinstance(vocabulary[0], str) != (dtype == STRING) and not dtype_problems(dtype):
            problems.append(f"dtype {dtype!r} does not match the vocabulary's "
                            f"{'strings' if isinstance(vocabulary[0], str) else 'integers'}")
    problems += dtype_problems(dtype) + positive_int_problems(num_oov_buckets, "num_oov_buckets", minimum=0)
    if not is_int(default_value):
        problems.append("default_value must be an int")
    elif default_value != -1 and num_oov_buckets:
        problems.append("can't specify both num_oov_buckets and default_value")
    elif not -1 <= default_value < max(len(vocabulary), 1):
        problems.append("default_value must be -1 (no id) or an id in [0, vocabulary size)")
    return problems


def _normalized(vocabulary: Iterable[Any]) -> tuple[Any, ...]:
    """Plain Python ``int``/``str`` values (numpy scalars would not compare or serialise alike)."""
    values = tuple(vocabulary)
    if values and all(is_int(v) for v in values):
        return tuple(int(v) for v in values)
    return tuple(str(v) for v in values) if values and all(isinstance(v, str) for v in values) else values


_OOV_EXPECTED = ("a non-empty vocabulary of unique strings or integers, dtype 'string' or an integer torch dtype, "
                 "num_oov_buckets >= 0, and default_value -1 (no id) or an id when num_oov_buckets is 0")


@dataclasses.dataclass(frozen=True)
class VocabularyListCategoricalColumn:
    """Made by :func:`categorical_column_with_vocabulary_list`."""

    key: str
    vocabulary_list: tuple[Any, ...]
    dtype: Any = None
    default_value: int = -1
    num_oov_buckets: int = 0
    weight_feature_key: ClassVar[None] = None

    def __post_init__(self) -> None:
        vocabulary = _normalized(self.vocabulary_list) if isinstance(self.vocabulary_list, Iterable) else ()
        dtype = self.dtype
        if dtype is None:
            dtype = STRING if vocabulary and isinstance(vocabulary[0], str) else torch.int64
        problems = key_problems(self.key) + _vocabulary_problems(vocabulary, dtype, self.default_value,
                                                                 self.num_oov_buckets)
        check(problems, f"categorical_column_with_vocabulary_list for {self.key!r}", _OOV_EXPECTED,
              "Fix the listed arguments", vocabulary_list=self.vocabulary_list, dtype=self.dtype,
              default_value=self.default_value, num_oov_buckets=self.num_oov_buckets)
        object.__setattr__(self, "vocabulary_list", vocabulary)
        object.__setattr__(self, "dtype", dtype)

    @property
    def name(self) -> str:
        return self.key

    @property
    def num_buckets(self) -> int:
        return len(self.vocabulary_list) + self.num_oov_buckets

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return {self.key: VarLenFeature(self.dtype)}

    @functools.cached_property
    def transform(self) -> VocabularyLookup:
        return VocabularyLookup(self.key, self.vocabulary_list, self.num_oov_buckets, self.default_value)


def categorical_column_with_vocabulary_list(key: str, vocabulary_list: Iterable[Any], dtype: Any = None,
                                            default_value: int = -1,
                                            num_oov_buckets: int = 0) -> VocabularyListCategoricalColumn:
    """A column of ids from an in-memory vocabulary: value -> its index in ``vocabulary_list``.

    Args:
        key: The feature's name.
        vocabulary_list: Unique strings or integers; the id of a value is its position.
        dtype: ``'string'`` or an integer torch dtype; None infers it from the vocabulary.
        default_value: The id of out-of-vocabulary values; ``-1`` (default) gives them no id.
        num_oov_buckets: When > 0, out-of-vocabulary values get ids ``len(vocabulary_list) +
            fingerprint % num_oov_buckets`` instead (not with a ``default_value``).

    Returns:
        A categorical column named ``key``, with ``len(vocabulary_list) + num_oov_buckets`` ids.

    Raises:
        ValueError: listing every invalid argument.

    Example:
        >>> import numpy as np
        >>> column = categorical_column_with_vocabulary_list("type", ["house", "apt"], num_oov_buckets=1)
        >>> column.num_buckets, column.transform({"type": np.array(["apt", "boat", ""])}).ravel().tolist()
        (3, [1, 2, -1])
    """
    return VocabularyListCategoricalColumn(key, vocabulary_list, dtype, default_value, num_oov_buckets)


@dataclasses.dataclass(frozen=True)
class VocabularyFileCategoricalColumn:
    """Made by :func:`categorical_column_with_vocabulary_file`; the file is read once, here."""

    key: str
    vocabulary_file: str
    vocabulary_size: int | None = None
    dtype: Any = STRING
    default_value: int | None = None
    num_oov_buckets: int = 0
    vocabulary: tuple[Any, ...] = dataclasses.field(init=False, repr=False, compare=False, default=())
    weight_feature_key: ClassVar[None] = None

    def __post_init__(self) -> None:
        default_value = -1 if self.default_value is None else self.default_value
        problems = key_problems(self.key) + dtype_problems(self.dtype)
        lines = self._read(problems)
        if self.vocabulary_size is not None:
            problems += positive_int_problems(self.vocabulary_size, "vocabulary_size")
            if lines is not None and not problems and self.vocabulary_size > len(lines):
                problems.append(f"vocabulary_size {self.vocabulary_size} exceeds the file's {len(lines)} lines")
        vocabulary: tuple[Any, ...] = ()
        if lines is not None and not problems:
            vocabulary = tuple(lines[:self.vocabulary_size])
            if self.dtype != STRING:
                try:
                    vocabulary = tuple(np.array(vocabulary, dtype=np.str_).astype(np.int64).tolist())
                except ValueError:
                    problems.append("a line of the file is not an integer, as the integer dtype needs")
            problems += _vocabulary_problems(vocabulary, self.dtype, default_value, self.num_oov_buckets)
        check(problems, f"categorical_column_with_vocabulary_file for {self.key!r}",
              "an existing file of unique values, one per line, and " + _OOV_EXPECTED, "Fix the listed arguments",
              vocabulary_file=self.vocabulary_file, vocabulary_size=self.vocabulary_size, dtype=self.dtype,
              default_value=self.default_value, num_oov_buckets=self.num_oov_buckets)
        object.__setattr__(self, "vocabulary_size", len(vocabulary))
        object.__setattr__(self, "default_value", default_value)
        object.__setattr__(self, "vocabulary", vocabulary)

    def _read(self, problems: list[str]) -> list[str] | None:
        if not self.vocabulary_file or not isinstance(self.vocabulary_file, (str, os.PathLike)):
            problems.append("vocabulary_file is missing")
            return None
        try:
            with open(self.vocabulary_file, encoding="utf-8") as f:
                text = f.read()
        except OSError as error:
            problems.append(f"vocabulary_file cannot be read ({error.strerror})")
            return None
        # Whole lines, as TensorFlow's TextFileIndex.WHOLE_LINE; a final newline ends the last
        # line rather than adding an empty one, and Windows line ends are accepted.
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return [line[:-1] if line.endswith("\r") else line for line in lines]

    @property
    def name(self) -> str:
        return self.key

    @property
    def num_buckets(self) -> int:
        return self.vocabulary_size + self.num_oov_buckets

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return {self.key: VarLenFeature(self.dtype)}

    @functools.cached_property
    def transform(self) -> VocabularyLookup:
        return VocabularyLookup(self.key, self.vocabulary, self.num_oov_buckets, self.default_value)


def categorical_column_with_vocabulary_file(key: str, vocabulary_file: str | os.PathLike,
                                            vocabulary_size: int | None = None, dtype: Any = STRING,
                                            default_value: int | None = None,
                                            num_oov_buckets: int = 0) -> VocabularyFileCategoricalColumn:
    """A column of ids from a vocabulary file, one value per line: value -> its line number.

    The file is read when the column is made and its vocabulary becomes part of any export,
    so serving does not need the file.

    Args:
        key: The feature's name.
        vocabulary_file: A UTF-8 text file of unique values, one per line.
        vocabulary_size: Use only the first ``vocabulary_size`` lines (None: all).
        dtype: ``'string'`` or an integer torch dtype (lines are then parsed as integers).
        default_value: The id of out-of-vocabulary values; None (default) means ``-1``, no id.
        num_oov_buckets: Extra ids for out-of-vocabulary values, chosen by hash.

    Returns:
        A categorical column named ``key``.

    Raises:
        ValueError: listing every invalid argument (a missing file included).

    Example:
        >>> import numpy as np, pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "types.txt"
        >>> _ = path.write_text("house\\napt\\n")
        >>> column = categorical_column_with_vocabulary_file("type", path)
        >>> column.vocabulary_size, column.transform({"type": np.array(["apt", "boat"])}).ravel().tolist()
        (2, [1, -1])
    """
    return VocabularyFileCategoricalColumn(key, os.fspath(vocabulary_file) if isinstance(
        vocabulary_file, os.PathLike) else vocabulary_file, vocabulary_size, dtype, default_value, num_oov_buckets)


@dataclasses.dataclass(frozen=True)
class IdentityCategoricalColumn:
    """Made by :func:`categorical_column_with_identity` (TensorFlow's field names)."""

    key: str
    number_buckets: int
    default_value: int | None = None
    weight_feature_key: ClassVar[None] = None

    def __post_init__(self) -> None:
        problems = key_problems(self.key) + positive_int_problems(self.number_buckets, "num_buckets")
        if self.default_value is not None and not (
                is_int(self.default_value) and not problems and 0 <= self.default_value < self.number_buckets):
            problems.append("default_value must be None or an id in [0, num_buckets)")
        check(problems, f"categorical_column_with_identity for {self.key!r}",
              "num_buckets >= 1 and default_value None or in [0, num_buckets)", "Fix the listed arguments",
              num_buckets=self.number_buckets, default_value=self.default_value)

    @property
    def name(self) -> str:
        return self.key

    @property
    def num_buckets(self) -> int:
        return self.number_buckets

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return {self.key: VarLenFeature(torch.int64)}

    @functools.cached_property
    def transform(self) -> Identity:
        return Identity(self.key, self.number_buckets, self.default_value)


def categorical_column_with_identity(key: str, num_buckets: int,
                                     default_value: int | None = None) -> IdentityCategoricalColumn:
    """A column whose integer values are their own ids, in ``[0, num_buckets)``.

    Args:
        key: The feature's name (integers; ``-1`` is a missing value).
        num_buckets: The number of ids.
        default_value: The id of values outside ``[0, num_buckets)``; None (default) makes
            such values an error when the column is computed, as in TensorFlow.

    Returns:
        A categorical column named ``key``.

    Raises:
        ValueError: listing every invalid argument.

    Example:
        >>> import numpy as np
        >>> column = categorical_column_with_identity("day", 7, default_value=0)
        >>> column.transform({"day": np.array([3, 9])}).ravel().tolist()
        [3, 0]
    """
    return IdentityCategoricalColumn(key, num_buckets, default_value)


@dataclasses.dataclass(frozen=True)
class HashedCategoricalColumn:
    """Made by :func:`categorical_column_with_hash_bucket`."""

    key: str
    hash_bucket_size: int
    dtype: Any = STRING
    weight_feature_key: ClassVar[None] = None

    def __post_init__(self) -> None:
        problems = key_problems(self.key) + positive_int_problems(self.hash_bucket_size, "hash_bucket_size")
        check(problems + dtype_problems(self.dtype), f"categorical_column_with_hash_bucket for {self.key!r}",
              "hash_bucket_size >= 1 and dtype 'string' or an integer torch dtype", "Fix the listed arguments",
              hash_bucket_size=self.hash_bucket_size, dtype=self.dtype)

    @property
    def name(self) -> str:
        return self.key

    @property
    def num_buckets(self) -> int:
        return self.hash_bucket_size

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return {self.key: VarLenFeature(self.dtype)}

    @functools.cached_property
    def transform(self) -> HashBucket:
        return HashBucket(self.key, self.hash_bucket_size, _transform_dtype(self.dtype))


def categorical_column_with_hash_bucket(key: str, hash_bucket_size: int,
                                        dtype: Any = STRING) -> HashedCategoricalColumn:
    """A column of ids ``fingerprint64(value) % hash_bucket_size`` (integers hash as decimal strings).

    The fingerprint is this project's stable hash (see
    :mod:`torch_estimator.export.fingerprint`), not TensorFlow's FarmHash: the same value gets
    the same id in every process and platform, but not TensorFlow's id.

    Args:
        key: The feature's name.
        hash_bucket_size: The number of ids.
        dtype: ``'string'`` or an integer torch dtype.

    Returns:
        A categorical column named ``key``.

    Raises:
        ValueError: listing every invalid argument.

    Example:
        >>> import numpy as np
        >>> column = categorical_column_with_hash_bucket("city", 100)
        >>> ids = column.transform({"city": np.array(["Oslo", "Lima", "Oslo"])}).ravel()
        >>> bool(ids[0] == ids[2]), bool(0 <= ids.min() and ids.max() < 100)
        (True, True)
    """
    return HashedCategoricalColumn(key, hash_bucket_size, dtype)


@dataclasses.dataclass(frozen=True)
class WeightedCategoricalColumn:
    """Made by :func:`weighted_categorical_column`."""

    categorical_column: Any
    weight_feature_key: str
    dtype: torch.dtype = torch.float32

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.categorical_column, CategoricalColumn):
            problems.append("categorical_column must be a categorical column")
        elif self.categorical_column.weight_feature_key is not None:
            problems.append("categorical_column is already weighted")
        problems += key_problems(self.weight_feature_key, "weight_feature_key")
        if not isinstance(self.dtype, torch.dtype) or self.dtype == torch.bool or self.dtype.is_complex:
            problems.append(f"dtype {self.dtype!r} is not convertible to float")
        check(problems, "weighted_categorical_column", "a categorical column, the name of the weights feature and a "
              "float or integer dtype", "Fix the listed arguments", categorical_column=self.categorical_column,
              weight_feature_key=self.weight_feature_key, dtype=self.dtype)

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_weighted_by_{self.weight_feature_key}"

    @property
    def num_buckets(self) -> int:
        return self.categorical_column.num_buckets

    @property
    def transform(self) -> Any:
        return self.categorical_column.transform

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return {**self.categorical_column.parse_example_spec, self.weight_feature_key: VarLenFeature(self.dtype)}


def weighted_categorical_column(categorical_column: Any, weight_feature_key: str,
                                dtype: torch.dtype = torch.float32) -> WeightedCategoricalColumn:
    """Gives each id of ``categorical_column`` the weight in feature ``weight_feature_key``.

    The weights feature has the ids' shape (one weight per value). Embeddings and linear
    models use weighted sums (ids with weight <= 0 are dropped, as TensorFlow's safe lookup
    does); an indicator column sums the weights of each id.

    Args:
        categorical_column: The column of ids.
        weight_feature_key: The feature holding the weights.
        dtype: The weights' dtype (float or integer).

    Returns:
        A categorical column named ``<column>_weighted_by_<weight_feature_key>``.

    Raises:
        ValueError: listing every invalid argument.

    Example:
        >>> words = categorical_column_with_identity("word_id", 1000)
        >>> weighted_categorical_column(words, "word_count").name
        'word_id_weighted_by_word_count'
    """
    return WeightedCategoricalColumn(categorical_column, weight_feature_key, dtype)
