"""TensorFlow's shape rules for metric inputs: squeezing, weight broadcasting, flattening.

``tf.compat.v1.metrics`` never broadcasts labels against predictions. It only removes one
trailing dimension of size 1 when their ranks differ by one (``remove_squeezable_dimensions``),
then requires equal shapes. Weights are then matched to the values: a trailing size-1 dimension
is squeezed or added when ranks differ by one, and the result must broadcast with every weight
dimension either 1 or equal to the value's. This is why ``[B]`` weights apply per example to
``[B, C]`` values in TensorFlow, where plain PyTorch broadcasting would align ``[B]`` with
``C`` instead (and silently do the wrong thing when ``B == C``).

Every helper here is shape bookkeeping on the host: no device synchronisation.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from torch_estimator.errors import message

_FLOATS = (torch.float32, torch.float64)


class Inputs(NamedTuple):
    """Labels, predictions and weights of one batch, flattened to matching 1-D tensors."""

    labels: torch.Tensor
    predictions: torch.Tensor
    weights: torch.Tensor | None


def to_tensor(value: Any, name: str, device: torch.device | None = None) -> torch.Tensor:
    """Converts a tensor, numpy array or Python number/list to a detached tensor.

    Args:
        value: The input.
        name: Argument name, used in the error message.
        device: Where to put non-tensor inputs (tensors stay where they are).

    Returns:
        A tensor that carries no autograd history (metrics never need gradients). Tensors
        keep their dtype; float64 arrays and Python floats become ``torch.get_default_dtype()``.

    Raises:
        TypeError: If ``value`` is not numeric (strings, objects, complex numbers).

    Example:
        >>> to_tensor([1, 2], "labels")
        tensor([1, 2])
    """
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    else:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(_not_numeric(name, array.dtype))
        tensor = torch.as_tensor(array, device=device)
        if tensor.dtype == torch.float64:
            # Python floats and float64 arrays follow the package's input rule (see
            # torch_estimator.inputs.structure): they become the default dtype.
            tensor = tensor.to(torch.get_default_dtype())
    if tensor.is_complex():
        raise TypeError(_not_numeric(name, tensor.dtype))
    return tensor


def as_float(tensor: torch.Tensor) -> torch.Tensor:
    """Casts to float32, keeping float64 (half precision would lose accuracy in sums).

    Example:
        >>> as_float(torch.tensor([1, 2])).dtype
        torch.float32
    """
    return tensor if tensor.dtype in _FLOATS else tensor.to(torch.float32)


def squeeze_to_match(
    first: torch.Tensor, second: torch.Tensor, names: tuple[str, str] = ("labels", "predictions")
) -> tuple[torch.Tensor, torch.Tensor]:
    """Applies TensorFlow's ``remove_squeezable_dimensions``, then requires equal shapes.

    Args:
        first: E.g. the labels.
        second: E.g. the predictions.
        names: The two argument names, used in the error message.

    Returns:
        ``(first, second)``, the one of higher rank squeezed if its extra last dimension is 1.

    Raises:
        ValueError: If the shapes still differ.

    Example:
        >>> a, b = squeeze_to_match(torch.zeros(4), torch.zeros(4, 1))
        >>> tuple(a.shape), tuple(b.shape)
        ((4,), (4,))
    """
    rank_diff = second.dim() - first.dim()
    if rank_diff == 1 and second.shape[-1] == 1:
        second = second.squeeze(-1)
    elif rank_diff == -1 and first.shape[-1] == 1:
        first = first.squeeze(-1)
    if first.shape != second.shape:
        raise ValueError(
            message(
                f"{names[0]} and {names[1]} have incompatible shapes",
                expected="equal shapes, or shapes that differ only by a trailing dimension of "
                "size 1 (e.g. [B] and [B, 1]), as TensorFlow's metrics require",
                fix=f"Reshape one of them, e.g. {names[1]}.reshape({names[0]}.shape)",
                **{f"{names[0]}_shape": tuple(first.shape), f"{names[1]}_shape": tuple(second.shape)},
            )
        )
    return first, second


def broadcast_weights(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Expands ``weights`` to the shape of ``values`` with TensorFlow's rules.

    Args:
        weights: A scalar, or a tensor of the values' rank (plus or minus one trailing dim).
        values: The tensor the weights apply to.

    Returns:
        ``weights`` as float, expanded (not copied) to ``values.shape``.

    Raises:
        ValueError: If the weights cannot be matched to the values.

    Example:
        >>> broadcast_weights(torch.tensor([1.0, 2.0]), torch.zeros(2, 3))
        tensor([[1., 1., 1.],
                [2., 2., 2.]])
    """
    weights = as_float(weights)
    if weights.dim() == 0:
        return weights.expand(values.shape)
    rank_diff = weights.dim() - values.dim()
    if rank_diff == 1 and weights.shape[-1] == 1:
        weights = weights.squeeze(-1)
    elif rank_diff == -1:
        # One weight per example for [B, C] values: broadcast along the last axis, as TF does.
        weights = weights.unsqueeze(-1)
    matches = weights.dim() == values.dim() and all(
        w in (1, v) for w, v in zip(weights.shape, values.shape)
    )
    if not matches:
        raise ValueError(
            message(
                "weights cannot be broadcast to the values they weigh",
                expected="a scalar, or a shape whose dimensions are each 1 or equal to the "
                "values' (one trailing dimension of size 1 more or less is allowed)",
                fix="Pass one weight per example, e.g. a tensor of shape [batch_size]",
                weights_shape=tuple(weights.shape),
                values_shape=tuple(values.shape),
            )
        )
    return weights.expand(values.shape)


def flatten_values(values: Any, weights: Any = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Prepares ``values`` and optional ``weights`` as matching 1-D tensors.

    Example:
        >>> flatten_values([[1.0], [2.0]], [3.0, 4.0])
        (tensor([1., 2.]), tensor([3., 4.]))
    """
    values = to_tensor(values, "values")
    if weights is None:
        return values.reshape(-1), None
    weights = broadcast_weights(to_tensor(weights, "weights", values.device), values)
    return values.reshape(-1), weights.reshape(-1)


def flatten_inputs(labels: Any, predictions: Any, weights: Any = None) -> Inputs:
    """Prepares one batch of ``(labels, predictions, weights)`` with TensorFlow's shape rules.

    Labels and predictions keep their dtypes; each metric casts them as TensorFlow does.

    Example:
        >>> flatten_inputs([[1], [0]], [0.5, 0.25], 2.0)
        Inputs(labels=tensor([1, 0]), predictions=tensor([0.5000, 0.2500]), weights=tensor([2., 2.]))
    """
    device = _first_device(labels, predictions, weights)
    labels = to_tensor(labels, "labels", device)
    predictions = to_tensor(predictions, "predictions", device)
    labels, predictions = squeeze_to_match(labels, predictions)
    if weights is not None:
        weights = broadcast_weights(to_tensor(weights, "weights", device), predictions).reshape(-1)
    return Inputs(labels.reshape(-1), predictions.reshape(-1), weights)


def _first_device(*values: Any) -> torch.device | None:
    """The device of the first tensor argument, so lists and arrays join it there."""
    for value in values:
        if isinstance(value, torch.Tensor):
            return value.device
    return None


def _not_numeric(name: str, dtype: Any) -> str:
    return message(
        f"{name} must be numeric",
        expected="a tensor, numpy array or Python number/list of bool, integer or float values",
        fix="Convert strings to ids or floats before computing the metric",
        **{f"{name}_dtype": str(dtype)},
    )
