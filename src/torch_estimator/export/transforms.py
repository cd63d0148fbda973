"""Transforms from raw feature values to integer ids: the one implementation of each, in numpy.

Feature columns run them on every batch while training; an export writes them to
``preprocessing.json`` and :func:`~torch_estimator.export.load` runs them before the exported
program, which cannot take strings. Each transform is a frozen dataclass that reads its
features from a dict, returns an ``int64`` array ``[batch, width]`` (``-1``: no id), and
round-trips through JSON.

Input rules (TensorFlow's for dense inputs): a feature is 1-D (one value per example) or 2-D
(several values per example); ``''``, ``None`` and ``-1`` mean "missing" and give no id.
Everything is vectorised over rows (numpy sorts, searches and ufuncs).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Union

import numpy as np

from torch_estimator.errors import ReadableKeyError, message
from torch_estimator.export.fingerprint import (
    HASH_NAME,
    combine64,
    fingerprint64,
    fingerprint_integers,
    mix64,
)

#: crossed_column's default ``hash_key`` (TensorFlow's SPARSE_FEATURE_CROSS_DEFAULT_HASH_KEY).
DEFAULT_HASH_KEY = 0xDECAFCAFFE


class MissingFeatureError(ReadableKeyError, ValueError):
    """A feature column reads a feature that ``features`` lacks.

    A ``ValueError``, as TensorFlow raised, and a ``KeyError``, so the export's probe reports
    which receiver input is missing.
    """


class StringInput:
    """A string serving input as ``model_fn`` sees it during an export.

    Feature columns read its ``values`` (while the export probes ``model_fn``) or receive the
    ids the exported preprocessing computed (while it traces). Anything else is an error with a
    clear message: the exported program has no strings to compute with.
    """

    def __init__(self, name: str, values: np.ndarray | None = None) -> None:
        self.name = name
        self.values = values

    def __repr__(self) -> str:
        return f"StringInput({self.name!r})"

    def error(self) -> ValueError:
        return ValueError(message(
            f"Serving input {self.name!r} is a string; exports cannot take string inputs yet, except through "
            "feature columns, which turn them into ids before the exported program runs",
            expected="model_fn to read string features only through est.feature_column (input_layer, "
                     "linear_model, DenseFeatures)",
            fix="Describe the feature with a categorical column (e.g. categorical_column_with_vocabulary_list) "
                "read by input_layer, or feed ids instead of strings", input=self.name))

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        raise next(arg for arg in _flatten(args, kwargs) if isinstance(arg, StringInput)).error()

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise self.error()


def _flatten(args: Any, kwargs: Any) -> list[Any]:
    flat = []
    for value in [*args, *(kwargs or {}).values()]:
        flat.extend(value if isinstance(value, (list, tuple)) else [value])
    return flat


def lookup(features: Mapping[str, Any], key: str) -> Any:
    """``features[key]``, or a :class:`MissingFeatureError` naming the features there are."""
    try:
        return features[key]
    except KeyError as error:
        raise MissingFeatureError(message(
            f"Feature {key!r} is not in the features dictionary", expected=f"one of {sorted(map(str, features))}",
            fix="Return the feature from input_fn (or the serving receiver), or drop the column that reads it",
            key=key)) from error


def read_feature(features: Mapping[str, Any], key: str) -> np.ndarray:
    """``features[key]`` as a 2-D numpy array ``[batch, values per example]``."""
    value = lookup(features, key)
    if isinstance(value, StringInput):
        value = value.values
    if hasattr(value, "detach"):  # a torch tensor; this module stays numpy-only for the predictor
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except ValueError as error:
        raise ValueError(message(f"Feature {key!r} is not a rectangular array", fix="Pad rows to one length with "
                                 "'' (strings) or -1 (integers)", key=key, error=str(error))) from error
    if array.ndim == 1:
        return array[:, None]
    if array.ndim != 2:
        raise ValueError(message(f"Feature {key!r} has the wrong rank for a categorical or bucketized column",
                                 expected="[batch] (one value per example) or [batch, n] (n values, padded with '' "
                                          "or -1)", fix="Reshape the feature", key=key, shape=array.shape))
    return array


def strings(array: np.ndarray, key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(numpy str array, missing mask)``; bytes are decoded as UTF-8; ``None`` and ``''`` are missing."""
    kind = array.dtype.kind
    if kind == "S":
        array = np.char.decode(array, "utf-8")
    elif kind == "O":
        none = array == None  # noqa: E711 - elementwise on object arrays
        filled = np.where(none, "", array)
        present = filled[~none]
        if present.size and isinstance(present.flat[0], bytes):
            filled = np.char.decode(filled.astype(np.bytes_), "utf-8")
        elif present.size and not isinstance(present.flat[0], str):
            raise _wrong_type(key, "strings", type(present.flat[0]).__name__)
        array = filled.astype(np.str_)
    elif kind != "U":
        raise _wrong_type(key, "strings", str(array.dtype))
    return array, array == ""


def integers(array: np.ndarray, key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(int64 array, missing mask)``; ``-1`` is missing."""
    if array.dtype.kind not in "iu":
        raise _wrong_type(key, "integers", str(array.dtype))
    array = array.astype(np.int64, copy=False)
    return array, array == -1


def _wrong_type(key: str, expected: str, received: str) -> TypeError:
    return TypeError(message(f"Feature {key!r} has the wrong type for its column", expected=expected,
                             fix="Give the column the feature's dtype (dtype='string' or an integer dtype), or cast "
                                 "the feature", key=key, dtype=received))


@dataclasses.dataclass(frozen=True)
class VocabularyLookup:
    """Value -> its index in ``vocabulary``; out-of-vocabulary values -> ``default_value``, or
    ``len(vocabulary) + fingerprint % num_oov_buckets`` when there are OOV buckets.

    Example:
        >>> lookup = VocabularyLookup("type", ("house", "apt"), num_oov_buckets=0, default_value=-1)
        >>> lookup({"type": np.array(["apt", "tent", ""])}).tolist()
        [[1], [-1], [-1]]
    """

    key: str
    vocabulary: tuple[Any, ...]
    num_oov_buckets: int = 0
    default_value: int = -1
    kind: ClassVar[str] = "vocabulary"

    def keys(self) -> tuple[str, ...]:
        return (self.key,)

    def renamed(self, names: Mapping[str, str]) -> VocabularyLookup:
        return dataclasses.replace(self, key=names[self.key])

    @functools.cached_property
    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        values = np.array(self.vocabulary, dtype=np.str_ if self.is_string else np.int64)
        order = np.argsort(values, kind="stable")
        return values[order], order

    @property
    def is_string(self) -> bool:
        return isinstance(self.vocabulary[0], str)

    def __call__(self, features: Mapping[str, Any]) -> np.ndarray:
        raw = read_feature(features, self.key)
        values, missing = strings(raw, self.key) if self.is_string else integers(raw, self.key)
        ordered, order = self._sorted
        position = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
        found = ordered[position] == values
        ids = np.where(found, order[position], self.default_value).astype(np.int64)
        if self.num_oov_buckets:
            oov = ~found & ~missing
            hashed = fingerprint64(values[oov]) if self.is_string else fingerprint_integers(values[oov])
            ids[oov] = len(self.vocabulary) + (hashed % np.uint64(self.num_oov_buckets)).astype(np.int64)
        ids[missing] = -1
        return ids

    def to_json(self) -> dict[str, Any]:
        spec = {"kind": self.kind, "key": self.key, "vocabulary": list(self.vocabulary),
                "num_oov_buckets": self.num_oov_buckets, "default_value": self.default_value}
        return {**spec, "hash": HASH_NAME} if self.num_oov_buckets else spec

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> VocabularyLookup:
        return cls(spec["key"], tuple(spec["vocabulary"]), spec["num_oov_buckets"], spec["default_value"])


@dataclasses.dataclass(frozen=True)
class HashBucket:
    """Value -> ``fingerprint64(value) % num_buckets`` (integers hash as their decimal strings).

    Example:
        >>> ids = HashBucket("city", 10)({"city": np.array([["Paris", ""], ["Oslo", "Paris"]])})
        >>> bool(ids[0, 0] == ids[1, 1]), int(ids[0, 1])
        (True, -1)
    """

    key: str
    num_buckets: int
    dtype: str = "string"  # or "int64"
    kind: ClassVar[str] = "hash_bucket"

    def keys(self) -> tuple[str, ...]:
        return (self.key,)

    def renamed(self, names: Mapping[str, str]) -> HashBucket:
        return dataclasses.replace(self, key=names[self.key])

    def __call__(self, features: Mapping[str, Any]) -> np.ndarray:
        raw = read_feature(features, self.key)
        if self.dtype == "string":
            values, missing = strings(raw, self.key)
            hashed = fingerprint64(values)
        else:
            values, missing = integers(raw, self.key)
            hashed = fingerprint_integers(values)
        return np.where(missing, -1, (hashed % np.uint64(self.num_buckets)).astype(np.int64))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "num_buckets": self.num_buckets, "dtype": self.dtype,
                "hash": HASH_NAME}

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> HashBucket:
        return cls(spec["key"], spec["num_buckets"], spec["dtype"])


@dataclasses.dataclass(frozen=True)
class Identity:
    """Integer -> itself when in ``[0, num_buckets)``; else ``default_value``, or an error when
    it is None (TensorFlow's rule).

    Example:
        >>> Identity("id", 3, default_value=0)({"id": np.array([2, 7, -1])}).tolist()
        [[2], [0], [-1]]
    """

    key: str
    num_buckets: int
    default_value: int | None = None
    kind: ClassVar[str] = "identity"

    def keys(self) -> tuple[str, ...]:
        return (self.key,)

    def renamed(self, names: Mapping[str, str]) -> Identity:
        return dataclasses.replace(self, key=names[self.key])

    def __call__(self, features: Mapping[str, Any]) -> np.ndarray:
        values, missing = integers(read_feature(features, self.key), self.key)
        outside = ~missing & ((values < 0) | (values >= self.num_buckets))
        if outside.any():
            if self.default_value is None:
                raise ValueError(message(
                    f"categorical_column_with_identity {self.key!r} got ids outside [0, {self.num_buckets})",
                    expected="ids in range, or -1 for a missing value",
                    fix="Pass default_value= to map them to one id, or raise num_buckets",
                    key=self.key, ids=np.unique(values[outside])[:5].tolist()))
            values = np.where(outside, self.default_value, values)
        return np.where(missing, -1, values)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "num_buckets": self.num_buckets,
                "default_value": self.default_value}

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> Identity:
        return cls(spec["key"], spec["num_buckets"], spec["default_value"])


@dataclasses.dataclass(frozen=True)
class Bucketize:
    """Number ``v`` -> bucket ``i`` with ``boundaries[i-1] <= v < boundaries[i]``; the j-th of
    ``size`` values per example is offset by ``j * (len(boundaries) + 1)``.

    Boundaries are rounded to float32 and values compared in float64, which is what
    TensorFlow's ``Bucketize`` op does (its boundaries attribute is float32).

    Example:
        >>> Bucketize("x", (0.0, 10.0))({"x": np.array([-5.0, 0.0, 9.9, 10.0])}).ravel().tolist()
        [0, 1, 1, 2]
    """

    key: str
    boundaries: tuple[float, ...]
    size: int = 1
    kind: ClassVar[str] = "bucketize"

    def keys(self) -> tuple[str, ...]:
        return (self.key,)

    def renamed(self, names: Mapping[str, str]) -> Bucketize:
        return dataclasses.replace(self, key=names[self.key])

    def __call__(self, features: Mapping[str, Any]) -> np.ndarray:
        values = read_feature(features, self.key)
        if values.dtype.kind not in "iuf" or values.shape[1] != self.size:
            raise ValueError(message(f"bucketized_column of {self.key!r} needs {self.size} number(s) per example",
                                     expected=f"a numeric feature of shape [batch, {self.size}]",
                                     fix="Match the numeric_column's shape to the feature", key=self.key,
                                     dtype=str(values.dtype), shape=values.shape))
        boundaries = np.asarray(self.boundaries, np.float32).astype(np.float64)
        buckets = np.searchsorted(boundaries, values.astype(np.float64), side="right")
        return (buckets + np.arange(self.size) * (len(boundaries) + 1)).astype(np.int64)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "boundaries": list(self.boundaries), "size": self.size}

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> Bucketize:
        return cls(spec["key"], tuple(spec["boundaries"]), spec["size"])


@dataclasses.dataclass(frozen=True)
class Raw:
    """A cross part that is a raw feature (strings or integers), fingerprinted as it is."""

    key: str
    kind: ClassVar[str] = "raw"

    def keys(self) -> tuple[str, ...]:
        return (self.key,)

    def renamed(self, names: Mapping[str, str]) -> Raw:
        return Raw(names[self.key])

    def fingerprints(self, features: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        raw = read_feature(features, self.key)
        if raw.dtype.kind in "iu":
            values, missing = integers(raw, self.key)
            return fingerprint_integers(values), ~missing
        values, missing = strings(raw, self.key)
        return fingerprint64(values), ~missing

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key}

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> Raw:
        return cls(spec["key"])


@dataclasses.dataclass(frozen=True)
class Cross:
    """Every combination of one value per part -> ``hash(hash_key, part values...) % num_buckets``.

    Parts are raw features (:class:`Raw`) or other transforms (their ids are hashed). A
    combination with a missing value gives no id. With 2-D parts the output has
    ``width_1 * width_2 * ...`` columns per example.

    Example:
        >>> cross = Cross((Raw("a"), Raw("b")), num_buckets=100)
        >>> ids = cross({"a": np.array(["x", "x", ""]), "b": np.array(["y", "y", "y"])})
        >>> bool(ids[0, 0] == ids[1, 0]), int(ids[2, 0])
        (True, -1)
    """

    parts: tuple[Any, ...]
    num_buckets: int
    hash_key: int = DEFAULT_HASH_KEY
    kind: ClassVar[str] = "cross"

    def keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(key for part in self.parts for key in part.keys()))

    def renamed(self, names: Mapping[str, str]) -> Cross:
        return dataclasses.replace(self, parts=tuple(part.renamed(names) for part in self.parts))

    def __call__(self, features: Mapping[str, Any]) -> np.ndarray:
        hashed = np.full((1, 1), self.hash_key, np.uint64)
        valid = np.ones((1, 1), bool)
        for part in self.parts:
            if isinstance(part, Raw):
                fingerprints, present = part.fingerprints(features)
            else:
                ids = part(features)
                fingerprints, present = mix64(ids), ids >= 0
            if hashed.shape[0] not in (1, fingerprints.shape[0]):
                raise ValueError(message("crossed_column features have different batch sizes",
                                         keys=list(self.keys()), batch_sizes=[hashed.shape[0], fingerprints.shape[0]]))
            # [batch, combinations so far, 1] x [batch, 1, part width] -> every combination
            hashed = combine64(hashed[:, :, None], fingerprints[:, None, :]).reshape(fingerprints.shape[0], -1)
            valid = (valid[:, :, None] & present[:, None, :]).reshape(present.shape[0], -1)
        return np.where(valid, (hashed % np.uint64(self.num_buckets)).astype(np.int64), -1)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "parts": [part.to_json() for part in self.parts], "num_buckets": self.num_buckets,
                "hash_key": self.hash_key, "hash": HASH_NAME}

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> Cross:
        return cls(tuple(from_json(part) for part in spec["parts"]), spec["num_buckets"], spec["hash_key"])


Transform = Union[VocabularyLookup, HashBucket, Identity, Bucketize, Cross]

_KINDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    cls.kind: cls.from_json for cls in (VocabularyLookup, HashBucket, Identity, Bucketize, Raw, Cross)}


def from_json(spec: dict[str, Any]) -> Any:
    """The transform a ``to_json()`` dict describes.

    Raises:
        ValueError: an unknown kind, or a hash other than :data:`HASH_NAME` (ids would differ).

    Example:
        >>> from_json(HashBucket("city", 10).to_json())
        HashBucket(key='city', num_buckets=10, dtype='string')
    """
    kind = spec.get("kind")
    if kind not in _KINDS or spec.get("hash", HASH_NAME) != HASH_NAME:
        raise ValueError(message("Unknown preprocessing transform", expected=f"kinds {sorted(_KINDS)} hashed with "
                                 f"{HASH_NAME}", fix="Load the export with the torch_estimator version that wrote it",
                                 kind=kind, hash=spec.get("hash")))
    return _KINDS[kind](spec)
