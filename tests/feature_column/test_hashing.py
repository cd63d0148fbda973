"""fingerprint64: the documented definition, stable values, independent of batch and process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from torch_estimator.export.fingerprint import combine64, fingerprint64, fingerprint_integers, mix64

MASK = 2 ** 64 - 1
P1, P2, P4, P5 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5


def rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & MASK


def fmix64(value: int) -> int:
    value ^= value >> 33
    value = (value * 0xFF51AFD7ED558CCD) & MASK
    value ^= value >> 33
    value = (value * 0xC4CEB9FE1A85EC53) & MASK
    return value ^ (value >> 33)


def reference(text: str) -> int:
    """The definition in the module docstring, one string at a time, in plain Python ints."""
    codes = [ord(c) for c in text] + [0] * (len(text) % 2)
    h = (P5 + len(text) * P1) & MASK
    for i in range(0, len(codes), 2):
        word = codes[i] | codes[i + 1] << 32
        lane = (rotl((word * P2) & MASK, 31) * P1) & MASK
        h = (rotl(h ^ lane, 27) * P1 + P4) & MASK
    return fmix64(h)


STRINGS = ["", "a", "ab", "abc", "house", "apt", "Zürich", "東京", "emoji 🙂", "a\x00b", "x" * 33]


def test_the_vectorised_hash_implements_the_documented_definition():
    assert fingerprint64(np.array(STRINGS)).tolist() == [reference(s) for s in STRINGS]


def test_values_are_pinned_so_hashed_ids_never_change_across_releases_or_platforms():
    # If one of these changes, every trained hash-bucket/cross/OOV weight is silently scrambled.
    pinned = {"": 0x9353DFC8A195F3E2, "a": 0xFE8EC13EB778D85B, "house": 0xC5E9472777811DD5,
              "apt": 0x93EF2EC98A50DE37, "Zürich": 0x216BD2886D2B70C8, "東京": 0x968884144E181C02}
    assert {s: int(h) for s, h in zip(pinned, fingerprint64(np.array(list(pinned))))} == pinned
    assert int(fingerprint_integers(np.array([42]))[0]) == 0x3B44D3CC8B1DB271


def test_a_value_hashes_the_same_whatever_else_is_in_the_batch():
    alone = fingerprint64(np.array(["apt"]))[0]
    batch = fingerprint64(np.array([["a much longer neighbour string", "apt"], ["", "apt"]]))
    assert batch[0, 1] == batch[1, 1] == alone
    assert fingerprint64(np.array(["apt"], dtype="<U40"))[0] == alone  # the array's width does not matter


def test_the_hash_is_the_same_in_another_process():
    # Python's own hash() is salted per process; this one must not be.
    code = ("import numpy as np; from torch_estimator.export.fingerprint import fingerprint64; "
            f"print(fingerprint64(np.array({STRINGS!r})).tolist())")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONHASHSEED": "123", "PYTHONPATH": ":".join(sys.path)}).stdout
    assert output.strip() == str(fingerprint64(np.array(STRINGS)).tolist())


def test_integers_hash_as_their_decimal_strings_like_tensorflow():
    assert fingerprint_integers(np.array([7, -3])).tolist() == fingerprint64(np.array(["7", "-3"])).tolist()


def test_buckets_are_evenly_used():
    values = np.char.add("user_", np.arange(100_000).astype(str))
    counts = np.bincount((fingerprint64(values) % np.uint64(100)).astype(np.int64), minlength=100)
    # 1000 expected per bucket; a binomial standard deviation is ~31, so 5 sigma is ~160.
    assert counts.min() > 840 and counts.max() < 1160


def test_mix_and_combine_are_order_sensitive_and_deterministic():
    a, b = mix64(np.array([1])), mix64(np.array([2]))
    assert mix64(np.array([1])).tolist() == a.tolist()
    assert combine64(combine64(np.uint64(5), a), b).tolist() != combine64(combine64(np.uint64(5), b), a).tolist()


@pytest.mark.parametrize("rows", [0, 1, 1000])
def test_shapes_are_kept(rows):
    assert fingerprint64(np.full((rows, 2), "x")).shape == (rows, 2)
