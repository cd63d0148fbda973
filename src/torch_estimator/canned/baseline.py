"""``BaselineClassifier``, ``BaselineRegressor``, ``BaselineEstimator``: learn the label prior only.

The logits are one learned bias vector, the same for every example; the features are ignored
(only their batch size is read). A baseline tells what a real model must beat.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from torch_estimator.canned.base import DEFAULT_REDUCTION, canned_model_fn, classifier_head, regressor_head, update
from torch_estimator.config import RunConfig
from torch_estimator.errors import message
from torch_estimator.estimator import Estimator
from torch_estimator.modules import get_module

LEARNING_RATE = 0.3  # TensorFlow's canned baseline default for an optimizer given by name


class Bias(nn.Module):
    """One bias per logit, broadcast over the batch."""

    def __init__(self, logits_dimension: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(logits_dimension))

    def forward(self, like: torch.Tensor) -> torch.Tensor:
        # Sized from a feature tensor's (symbolic) first dimension, not a Python int, so that an
        # exported program keeps a dynamic batch size.
        return self.bias.expand(like.shape[0], -1)


def _batched_tensor(features: Any) -> torch.Tensor:
    values = features.values() if isinstance(features, Mapping) else [features]
    for value in values:
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return value
    raise ValueError(message("A baseline needs at least one numeric feature tensor to size its output",
                             fix="Pass any batched numeric feature (e.g. the weight column or an id)",
                             features=sorted(features) if isinstance(features, Mapping) else type(features).__name__))


def baseline_logit_fn(logits_dimension: int):
    def logit_fn(features: Any, mode: str) -> torch.Tensor:
        return get_module("baseline", lambda: Bias(logits_dimension))(_batched_tensor(features))

    return logit_fn


class BaselineEstimator(Estimator):
    """A baseline with a head of your choice (TensorFlow's ``tf.estimator.BaselineEstimator``).

    Args:
        head: An ``est.*Head``.
        model_dir: As :class:`~torch_estimator.Estimator`.
        optimizer: A name (``'Ftrl'`` by default, learning rate 0.3 as TF) or a callable
            ``params -> torch.optim.Optimizer``.
        config: A :class:`~torch_estimator.RunConfig`.

    Example:
        >>> import tempfile, numpy as np, torch_estimator as est
        >>> estimator = est.BaselineEstimator(est.RegressionHead(), model_dir=tempfile.mkdtemp(),
        ...                                   config=est.RunConfig(progress_bar=False))
        >>> data = {"x": np.zeros(4, np.float32)}, np.full(4, 3.0, np.float32)
        >>> estimator.train(lambda: data, steps=2).evaluate(lambda: data)["global_step"]
        2
    """

    def __init__(self, head: Any, model_dir: str | os.PathLike | None = None, optimizer: Any = "Ftrl",
                 config: RunConfig | None = None) -> None:
        super().__init__(canned_model_fn(head, baseline_logit_fn(head.logits_dimension), update(optimizer, LEARNING_RATE)),
                         model_dir=model_dir, config=config)
        self.head = head


class BaselineClassifier(BaselineEstimator):
    """Predicts the training label distribution (TensorFlow's ``tf.estimator.BaselineClassifier``)."""

    def __init__(self, model_dir: str | os.PathLike | None = None, n_classes: int = 2, weight_column: Any = None,
                 label_vocabulary: Sequence[str] | None = None, optimizer: Any = "Ftrl",
                 config: RunConfig | None = None, loss_reduction: str = DEFAULT_REDUCTION) -> None:
        super().__init__(classifier_head(n_classes, weight_column, label_vocabulary, loss_reduction), model_dir,
                         optimizer, config)


class BaselineRegressor(BaselineEstimator):
    """Predicts the training label mean (TensorFlow's ``tf.estimator.BaselineRegressor``)."""

    def __init__(self, model_dir: str | os.PathLike | None = None, label_dimension: int = 1, weight_column: Any = None,
                 optimizer: Any = "Ftrl", config: RunConfig | None = None,
                 loss_reduction: str = DEFAULT_REDUCTION) -> None:
        super().__init__(regressor_head(label_dimension, weight_column, loss_reduction), model_dir, optimizer, config)
