"""``fingerprint64``: the stable string hash behind hash buckets, crossed columns and OOV buckets.

Hashed ids are part of a trained model: a value must land in the same bucket in every process,
on every platform and in every later release, or a restored model silently reads the wrong
weights. So the hash is defined here, in numpy, rather than borrowed:

* Python's ``hash()`` is salted per process (``PYTHONHASHSEED``).
* pyarrow's compute functions expose no value hash (``hash64`` is an open Arrow pull request,
  apache/arrow#45001) and Arrow's internal hashes are not promised stable across versions.
* ``pandas.util.hash_array`` (SipHash) would make pandas, an optional dependency, required.
* TensorFlow's FarmHash ``Fingerprint64`` has no numpy implementation; a per-row Python port
  would be a loop per row.

The definition (version :data:`HASH_NAME`), over a string's Unicode code points ``c[0..n)``::

    h = P5 + n * P1
    for each pair w = c[2i] | c[2i+1] << 32   (c[n] = 0 pads an odd length)
        h = rotl(h ^ (rotl(w * P2, 31) * P1), 27) * P1 + P4
    fingerprint = fmix64(h)                   (MurmurHash3's 64-bit finaliser)

with xxHash64's primes, all arithmetic mod 2**64. Code points rather than UTF-8 bytes because
numpy stores strings as little-endian UTF-32 already: the hash reads them as a ``(rows,
width)`` integer matrix and loops over the *width* (a few steps for categorical values), each
step vectorised over all rows. Integers are hashed through their decimal string, as TensorFlow
does (``as_string``), so ``7`` and ``"7"`` share a bucket.

Values differ from TensorFlow's FarmHash fingerprints, so hashed ids (and the weights trained on
them) cannot be carried over from a TensorFlow checkpoint; vocabulary and identity ids can.
"""

from __future__ import annotations

import numpy as np

#: Written into every exported transform that hashes; a loader refuses any other version.
HASH_NAME = "fingerprint64-v1"

_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_SHIFT_33 = np.uint64(33)


def fingerprint64(strings: np.ndarray) -> np.ndarray:
    """The 64-bit fingerprint of every string of a numpy ``str`` array (any shape).

    A string's fingerprint depends on that string only (not on the other strings of the array or
    on the array's width), so a value hashes the same in every batch.

    Args:
        strings: An array of numpy ``str`` dtype (``'<U…'``).

    Returns:
        A ``uint64`` array of the same shape.

    Example:
        >>> import numpy as np
        >>> a = fingerprint64(np.array(["apt", "house"]))
        >>> b = fingerprint64(np.array(["house", "a much longer string"]))
        >>> bool(a[1] == b[0]), a.dtype
        (True, dtype('uint64'))
    """
    shape = strings.shape
    flat = strings.reshape(-1)
    width = max(flat.dtype.itemsize // 4, 1)
    width += width % 2  # whole 64-bit words; the padding code units are zeros
    codes = np.ascontiguousarray(flat, dtype=f"<U{width}").view("<u4").reshape(-1, width)
    lengths = _lengths(codes)
    words = codes.view("<u8")
    h = _P5 + lengths.astype(np.uint64) * _P1
    word_counts = (lengths + 1) // 2
    for index in range(words.shape[1]):  # over character positions, never over rows
        lane = _rotl(words[:, index] * _P2, 31) * _P1
        h = np.where(word_counts > index, _rotl(h ^ lane, 27) * _P1 + _P4, h)
    return _fmix64(h).reshape(shape)


def fingerprint_integers(values: np.ndarray) -> np.ndarray:
    """Fingerprints of integers, through their decimal strings (TensorFlow's ``as_string`` rule).

    Example:
        >>> import numpy as np
        >>> bool(fingerprint_integers(np.array([7]))[0] == fingerprint64(np.array(["7"]))[0])
        True
    """
    return fingerprint64(np.asarray(values, dtype=np.int64).astype(np.str_))


def mix64(values: np.ndarray) -> np.ndarray:
    """A 64-bit hash of integer ids (two's complement for negatives); vectorised.

    Example:
        >>> import numpy as np
        >>> mix64(np.array([0, 1])).dtype
        dtype('uint64')
    """
    return _fmix64(np.asarray(values).astype(np.int64).view(np.uint64) * _P1 + _P3)


def combine64(accumulated: np.ndarray, fingerprint: np.ndarray) -> np.ndarray:
    """Folds one more fingerprint into an accumulated hash (order matters: a cross of a then b
    differs from b then a). Broadcasts like numpy.

    Example:
        >>> import numpy as np
        >>> x, y = mix64(np.array([1])), mix64(np.array([2]))
        >>> bool(combine64(combine64(np.uint64(0), x), y)[0] != combine64(combine64(np.uint64(0), y), x)[0])
        True
    """
    return _fmix64(np.asarray(accumulated, dtype=np.uint64) * _P1 + fingerprint)


def _lengths(codes: np.ndarray) -> np.ndarray:
    """Code points per row: numpy drops trailing NULs, so a string ends at its last non-zero unit."""
    filled = codes != 0
    if codes.shape[0] == 0:
        return np.zeros(0, np.int64)
    last = codes.shape[1] - np.argmax(filled[:, ::-1], axis=1)
    return np.where(filled.any(axis=1), last, 0).astype(np.int64)


def _rotl(value: np.ndarray, bits: int) -> np.ndarray:
    return (value << np.uint64(bits)) | (value >> np.uint64(64 - bits))


def _fmix64(value: np.ndarray) -> np.ndarray:
    value = value ^ (value >> _SHIFT_33)
    value = value * _M1
    value = value ^ (value >> _SHIFT_33)
    value = value * _M2
    return value ^ (value >> _SHIFT_33)
