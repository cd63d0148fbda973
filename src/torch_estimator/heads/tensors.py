"""Logits, labels and example weights, checked and shaped as TensorFlow's heads require.

Shapes follow TensorFlow's ``base_head``: logits are ``[D0, ..., DN, logits_dimension]`` (most
often ``[batch, logits_dimension]``); labels are ``[D0, ..., DN, label_dimension]``, or
``[D0, ..., DN]`` when the label dimension is 1; weights are ``[D0, ..., DN]`` or
``[D0, ..., DN, 1]`` (and ``[D0, ..., DN, logits_dimension]`` for regression). Mismatches are
errors, never silent broadcasts: ``[B]`` labels against ``[B, 1]`` logits broadcast to
``[B, B]`` in plain PyTorch, the classic silent bug of hand-written losses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from torch_estimator.errors import ReadableKeyError, message

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def check_logits(logits: Any, logits_dimension: int) -> torch.Tensor:
    """Returns ``logits`` as a float tensor after checking its last dimension.

    Half-precision logits (from autocast) are cast to float32, as TensorFlow casts logits to
    float32: losses and probabilities lose too much in 16 bits.

    Raises:
        TypeError: logits is not a floating-point tensor.
        ValueError: rank below 2 or the wrong last dimension.

    Example:
        >>> check_logits(torch.zeros(4, 3, dtype=torch.float16), 3).dtype
        torch.float32
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(message("logits must be a floating-point torch.Tensor", expected="the network's output",
                                fix="Pass the output of the last layer, e.g. net(features['x'])",
                                logits=_describe(logits)))
    if logits.dim() < 2 or logits.shape[-1] != logits_dimension:
        raise ValueError(message("logits shape must be [D0, D1, ... DN, logits_dimension]",
                                 expected=f"logits_dimension={logits_dimension}, e.g. [batch_size, {logits_dimension}]",
                                 fix=f"Make the last layer output {logits_dimension} value(s) per example "
                                     "(head.logits_dimension)", logits_shape=list(logits.shape)))
    return logits.float() if logits.dtype in _LOW_PRECISION else logits


def labels_tensor(labels: Any, logits: torch.Tensor) -> torch.Tensor:
    """Numeric ``labels`` (tensor, array, list) as a tensor on the logits' device.

    Raises:
        ValueError: labels is None or holds strings (the head needs a ``label_vocabulary``).
        TypeError: labels is not numeric.

    Example:
        >>> labels_tensor([1, 0], torch.zeros(2, 1))
        tensor([1, 0])
    """
    if labels is None:
        raise ValueError(message(
            "You must provide a labels Tensor", expected="labels in TRAIN and EVAL modes",
            fix="Check that your data contains your label feature and that your input_fn returns (features, "
                "labels)", labels=None))
    if isinstance(labels, torch.Tensor):
        tensor = labels
    else:
        array = np.asarray(labels)
        if array.dtype.kind in "USO":
            raise ValueError(message(
                "Labels are strings but the head has no label_vocabulary",
                expected="numeric class ids, or a label_vocabulary listing the class names",
                fix="Pass label_vocabulary=[...names...] to the head", labels_dtype=str(array.dtype)))
        tensor = torch.as_tensor(array)
    if tensor.is_complex():
        raise TypeError(message("labels must be real numbers", expected="class ids, 0/1 or float targets",
                                fix="Feed real-valued labels", labels_dtype=str(tensor.dtype)))
    return tensor.to(logits.device, non_blocking=True)


def match_labels_to_logits(labels: torch.Tensor, logits: torch.Tensor, label_dimension: int) -> torch.Tensor:
    """``labels`` reshaped to ``logits.shape[:-1] + [label_dimension]`` (TF's rule).

    ``[D0, ..., DN]`` labels get a trailing dimension of 1; any other mismatch is an error.

    Raises:
        ValueError: the shapes do not match.

    Example:
        >>> match_labels_to_logits(torch.tensor([1, 0]), torch.zeros(2, 1), 1).shape
        torch.Size([2, 1])
    """
    given = list(labels.shape)
    if labels.dim() == logits.dim() - 1:
        labels = labels.unsqueeze(-1)
    expected = (*logits.shape[:-1], label_dimension)
    if tuple(labels.shape) != expected:
        raise ValueError(message(
            f"labels shape must be [D0, D1, ... DN, {label_dimension}]",
            expected=f"labels of shape {list(expected)} to match logits of shape {list(logits.shape)}"
                     + (f" (or {list(expected[:-1])})" if label_dimension == 1 else ""),
            fix="Check the head's n_classes / label_dimension and the shape of the labels your input_fn "
                "returns", labels_shape=given))
    return labels


def check_label_range(labels: torch.Tensor, low: float, high: float, what: str) -> None:
    """Raises ``ValueError(what)`` if a label lies outside ``[low, high]``.

    One device synchronisation per call: TensorFlow asserted the same in the graph.

    Example:
        >>> check_label_range(torch.tensor([0, 1]), 0, 1, "Labels must be 0 or 1")
    """
    bad = (labels < low) | (labels > high)
    if bool(bad.any()):
        values = torch.unique(labels[bad]).tolist()
        raise ValueError(message(what, expected=f"values in [{low:g}, {high:g}]",
                                 fix="Fix the labels, or check the head's n_classes / label_vocabulary",
                                 invalid_labels=values[:10]))


def weight_column_problems(weight_column: Any) -> list[str]:
    """What is wrong with a head's ``weight_column`` (empty when it is valid).

    Example:
        >>> weight_column_problems("w"), len(weight_column_problems(3))
        ([], 1)
    """
    if weight_column is None or isinstance(weight_column, str) or isinstance(getattr(weight_column, "key", None), str):
        return []
    return [message("Weight column must be either a string or NumericColumn",
                    expected="a feature name, or est.feature_column.numeric_column(name)",
                    fix="Pass the name of the weight feature, e.g. weight_column='weight'",
                    weight_column_type=type(weight_column).__name__)]


def example_weights(features: Any, weight_column: Any, logits: torch.Tensor,
                    allow_per_logit_weights: bool = False) -> torch.Tensor | None:
    """The weights of one batch, read from ``features``, shaped ``[D0, ..., DN, 1]`` (or per logit).

    ``weight_column`` is a feature name or a column with a ``key`` (and optional
    ``normalizer_fn``, applied as a ``numeric_column`` would).

    Returns:
        None without a weight column, else float weights on the logits' device.

    Raises:
        KeyError: the feature is missing.
        ValueError: the weights are not numeric or have the wrong shape.

    Example:
        >>> example_weights({"w": [1.0, 2.0]}, "w", torch.zeros(2, 1))
        tensor([[1.],
                [2.]])
    """
    if weight_column is None:
        return None
    key = weight_column if isinstance(weight_column, str) else weight_column.key
    if not isinstance(features, Mapping) or key not in features:
        available = sorted(features) if isinstance(features, Mapping) else type(features).__name__
        raise ReadableKeyError(message(
            f"The weight column {key!r} is not in the features", expected="features to be a dict that holds the "
            "weight of each example under the weight_column's name", fix="Return the weights from input_fn as "
            f"features[{key!r}], or fix the head's weight_column", weight_column=key, features=available))
    weights = features[key]
    normalizer = getattr(weight_column, "normalizer_fn", None)
    weights = torch.as_tensor(np.asarray(weights)) if not isinstance(weights, torch.Tensor) else weights
    if weights.dtype == torch.bool or weights.is_complex() or (
            not weights.is_floating_point() and weights.dtype not in _INTEGERS):
        raise ValueError(message("Weight column should be castable to float", weights_dtype=str(weights.dtype),
                                 fix="Feed numeric weights"))
    weights = weights.to(device=logits.device, dtype=logits.dtype)
    if callable(normalizer):
        weights = normalizer(weights)
    return _shape_weights(weights, logits, allow_per_logit_weights)


_INTEGERS = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _shape_weights(weights: torch.Tensor, logits: torch.Tensor, allow_per_logit: bool) -> torch.Tensor:
    batch_shape = tuple(logits.shape[:-1])
    if tuple(weights.shape) == batch_shape:
        return weights.unsqueeze(-1)
    if tuple(weights.shape) == (*batch_shape, 1) or (allow_per_logit and weights.shape == logits.shape):
        return weights
    allowed = [list(batch_shape), [*batch_shape, 1]] + ([list(logits.shape)] if allow_per_logit else [])
    raise ValueError(message(
        "weights shape must be [D0, D1, ... DN]" + (", [D0, D1, ... DN, 1] or [D0, D1, ... DN, logits_dimension]"
                                                    if allow_per_logit else " or [D0, D1, ... DN, 1]"),
        expected=f"one of {allowed}", fix="Feed one weight per example", weights_shape=list(weights.shape),
        logits_shape=list(logits.shape)))


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"Tensor({value.dtype}, shape={list(value.shape)})"
    return type(value).__name__
