"""TensorFlow's shape rules: squeeze a trailing 1, broadcast weights per example, never more."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torch_estimator.metrics.shapes import (
    broadcast_weights,
    flatten_inputs,
    flatten_values,
    squeeze_to_match,
    to_tensor,
)


@pytest.mark.parametrize(
    "first_shape, second_shape, expected",
    [
        ((4,), (4,), (4,)),
        ((4,), (4, 1), (4,)),  # predictions [B, 1] against labels [B]
        ((4, 1), (4,), (4,)),  # labels [B, 1] against predictions [B]
        ((4, 3), (4, 3), (4, 3)),
        ((), (1,), ()),
    ],
)
def test_squeeze_to_match_accepts_tf_squeezable_shapes(first_shape, second_shape, expected):
    first, second = squeeze_to_match(torch.zeros(first_shape), torch.zeros(second_shape))
    assert tuple(first.shape) == expected
    assert tuple(second.shape) == expected


@pytest.mark.parametrize(
    "first_shape, second_shape",
    [
        ((4,), (4, 2)),  # extra dim is not 1: TF does not squeeze it
        ((4, 2), (4,)),
        ((4,), (4, 1, 1)),  # ranks differ by two
        ((4,), (5,)),
        ((3,), (1, 3)),  # would broadcast in PyTorch, not in TF's metrics
    ],
)
def test_squeeze_to_match_rejects_other_shapes_naming_both(first_shape, second_shape):
    with pytest.raises(ValueError, match="labels and predictions have incompatible shapes") as info:
        squeeze_to_match(torch.zeros(first_shape), torch.zeros(second_shape))
    assert f"labels_shape={first_shape!r}" in str(info.value)
    assert f"predictions_shape={second_shape!r}" in str(info.value)


@pytest.mark.parametrize(
    "weights_shape, values_shape",
    [
        ((), (2, 3)),
        ((2,), (2,)),
        ((2,), (2, 1)),
        ((2, 1), (2,)),
        ((2, 1), (2, 3)),
        ((1, 3), (2, 3)),
        ((2, 3), (2, 3)),
    ],
)
def test_broadcast_weights_expands_to_values_shape(weights_shape, values_shape):
    weights = broadcast_weights(torch.ones(weights_shape), torch.zeros(values_shape))
    assert tuple(weights.shape) == values_shape


def test_weights_per_example_apply_to_every_column_even_when_batch_equals_columns():
    # [B] weights on [B, C] values with B == C: plain PyTorch broadcasting would give row i
    # the weights of every example; TensorFlow gives row i the weight of example i.
    weights = broadcast_weights(torch.tensor([1.0, 2.0, 3.0]), torch.zeros(3, 3))
    assert torch.equal(weights, torch.tensor([[1.0] * 3, [2.0] * 3, [3.0] * 3]))


@pytest.mark.parametrize(
    "weights_shape, values_shape",
    [
        ((3,), (2,)),
        ((2, 2), (2,)),  # trailing dim 2 is not squeezable
        ((3, 1), (2, 3)),
        ((2, 3, 1, 1), (2, 3)),
        ((2, 3), (3,)),
    ],
)
def test_broadcast_weights_rejects_mismatches_naming_both_shapes(weights_shape, values_shape):
    with pytest.raises(ValueError, match="weights cannot be broadcast to the values they weigh") as info:
        broadcast_weights(torch.ones(weights_shape), torch.zeros(values_shape))
    assert "values_shape=" + repr(values_shape) in str(info.value)
    assert "Expected a scalar, or a shape whose dimensions are each 1 or equal" in str(info.value)


def test_to_tensor_converts_python_and_numpy_and_detaches():
    assert to_tensor([1.5, 2.5], "x").dtype == torch.get_default_dtype()
    assert to_tensor(np.array([1, 2], dtype=np.int32), "x").dtype == torch.int32
    assert to_tensor(torch.zeros(2, dtype=torch.float64), "x").dtype == torch.float64
    assert to_tensor(np.array([True, False]), "x").dtype == torch.bool
    with_grad = torch.ones(2, requires_grad=True) * 2
    assert not to_tensor(with_grad, "x").requires_grad


@pytest.mark.parametrize("value", [["a", "b"], np.array([None, 1], dtype=object), None])
def test_to_tensor_rejects_non_numeric_input(value):
    with pytest.raises(TypeError, match=r"labels must be numeric\. Expected a tensor, numpy array"):
        to_tensor(value, "labels")


def test_to_tensor_rejects_complex_tensors():
    with pytest.raises(TypeError, match=r"weights must be numeric.*weights_dtype='torch.complex64'"):
        to_tensor(torch.zeros(2, dtype=torch.complex64), "weights")


def test_flatten_inputs_flattens_consistently():
    labels = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    predictions = torch.tensor([[5.0, 6.0], [7.0, 8.0]])
    inputs = flatten_inputs(labels, predictions, torch.tensor([10.0, 20.0]))
    assert inputs.labels.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert inputs.predictions.tolist() == [5.0, 6.0, 7.0, 8.0]
    assert inputs.weights.tolist() == [10.0, 10.0, 20.0, 20.0]


def test_flatten_values_without_weights_keeps_weights_none():
    values, weights = flatten_values(torch.ones(2, 2))
    assert values.shape == (4,)
    assert weights is None
