"""The conversion rules every input path shares."""

from __future__ import annotations

import numpy as np
import torch

from torch_estimator.inputs.structure import batch_size_of, to_tensor, to_tensors


def test_scalars_stay_scalars():
    assert to_tensor(5).shape == () and to_tensor(5).dtype == torch.int64
    assert to_tensor(np.float64(2.5)).dtype == torch.float32
    assert to_tensor(np.array(3.0)).shape == ()


def test_float64_becomes_the_default_dtype_and_other_dtypes_are_kept():
    assert to_tensor(np.zeros(3)).dtype == torch.float32
    assert to_tensor(np.zeros(3, dtype=np.int32)).dtype == torch.int32
    assert to_tensor(np.zeros(3, dtype=bool)).dtype == torch.bool


def test_strings_stay_numpy_and_tensors_pass_through():
    words = np.array(["a", "b"])
    assert to_tensor(words) is words
    tensor = torch.ones(2)
    assert to_tensor(tensor) is tensor


def test_nested_structures_and_batch_size():
    converted = to_tensors({"x": np.ones((4, 2)), "y": (np.zeros(4), [np.ones(4)])})
    assert isinstance(converted["x"], torch.Tensor) and isinstance(converted["y"][1][0], torch.Tensor)
    assert batch_size_of(converted) == 4
    assert batch_size_of({"s": np.float32(1.0)}) is None


def test_ragged_lists_stay_lists():
    ragged = [[0, 2], [], [1]]
    assert to_tensor(ragged) is ragged
    assert torch.equal(to_tensor([[0, 2], [1, 1]]), torch.tensor([[0, 2], [1, 1]]))
