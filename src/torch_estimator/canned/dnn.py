"""``DNNClassifier``, ``DNNRegressor``, ``DNNEstimator``: feed-forward networks over feature columns."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the conventional alias
from torch import nn

from torch_estimator.canned.base import (
    DEFAULT_REDUCTION,
    canned_model_fn,
    check_feature_columns,
    classifier_head,
    regressor_head,
    update,
)
from torch_estimator.config import RunConfig
from torch_estimator.estimator import Estimator
from torch_estimator.feature_column import input_layer
from torch_estimator.modules import get_module

# TensorFlow's canned DNN rate for an optimizer given by name (TF 1's model_fn, and TF's docs).
# TF 2's v2 model_fn dropped it (get_optimizer_instance_v2(optimizer)), so TF 2 Estimators ran
# Keras's default 0.001: to continue such a model, pass
# optimizer=lambda params: est.train.make_optimizer("Adagrad", params, 0.001)
# (tests/canned/test_tensorflow_fidelity.py does, against TF Estimator 2.15 itself).
LEARNING_RATE = 0.05


class BatchNorm(nn.BatchNorm1d):
    """TensorFlow's batch normalization (Keras's ``BatchNormalization`` in TF's canned DNN).

    Epsilon 1e-3 and momentum 0.999 (torch's 0.001), and the moving variance updated with the
    batch's *biased* variance, as TensorFlow does: torch's ``running_var`` takes the unbiased
    one, ``n / (n - 1)`` times larger (a third larger for a batch of 4), so a model trained here
    would predict differently from the same model trained by TensorFlow. Normalisation itself
    (the batch's biased statistics in training, the moving ones otherwise) is torch's.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features, eps=1e-3, momentum=0.001)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(inputs)
        with torch.no_grad():
            self.running_mean.lerp_(inputs.mean(0), self.momentum)
            self.running_var.lerp_(inputs.var(0, correction=0), self.momentum)
            self.num_batches_tracked.add_(1)
        return F.batch_norm(inputs, None, None, self.weight, self.bias, True, 0.0, self.eps)


class DNN(nn.Module):
    """Hidden layers (``hiddenlayer_<i>``: linear, activation, dropout, batch norm) and ``logits``,
    in TensorFlow's order and with its batch-norm momentum (0.999, i.e. torch's 0.001)."""

    def __init__(self, in_features: int, hidden_units: Sequence[int], logits_dimension: int,
                 activation_fn: Callable[[torch.Tensor], torch.Tensor], dropout: float | None,
                 batch_norm: bool) -> None:
        super().__init__()
        self.activation_fn = activation_fn
        self.hidden = nn.ModuleList()
        self.norms = nn.ModuleList() if batch_norm else None
        for units in hidden_units:
            self.hidden.append(nn.Linear(in_features, units))
            if self.norms is not None:
                self.norms.append(BatchNorm(units))
            in_features = units
        self.dropout = nn.Dropout(dropout) if dropout else None
        self.logits = nn.Linear(in_features, logits_dimension)
        for layer in (*self.hidden, self.logits):  # TensorFlow's Dense defaults (torch's differ)
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        net = inputs
        for index, layer in enumerate(self.hidden):
            net = self.activation_fn(layer(net))
            if self.dropout is not None:
                net = self.dropout(net)
            if self.norms is not None:
                net = self.norms[index](net)
        return self.logits(net)


def dnn_logit_fn(feature_columns: list[Any], hidden_units: Sequence[int], logits_dimension: int,
                 activation_fn: Callable, dropout: float | None, batch_norm: bool,
                 prefix: str = "dnn") -> Callable[[Any, str], torch.Tensor]:
    """Features -> ``input_layer`` -> :class:`DNN` -> logits (modules ``<prefix>/input_from_feature_columns``
    and ``<prefix>``, as TensorFlow's variable scopes)."""
    _check_network(hidden_units, dropout)

    def logit_fn(features: Any, mode: str) -> torch.Tensor:
        inputs = input_layer(features, feature_columns, name=f"{prefix}/input_from_feature_columns")
        network = get_module(prefix, lambda: DNN(inputs.shape[1], hidden_units, logits_dimension, activation_fn,
                                                 dropout, batch_norm))
        return network(inputs)

    return logit_fn


def _check_network(hidden_units: Any, dropout: Any) -> None:
    problems = []
    units = list(hidden_units) if isinstance(hidden_units, (list, tuple)) else None
    if not units or not all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in units):
        problems.append(f"hidden_units must be a non-empty list of positive ints. Received: hidden_units={hidden_units!r}.")
    if dropout is not None and not (isinstance(dropout, (int, float)) and 0 <= dropout < 1):
        problems.append(f"dropout must be None or in [0, 1). Received: dropout={dropout!r}.")
    if problems:
        raise ValueError("Invalid DNN arguments:\n  - " + "\n  - ".join(problems))


class DNNEstimator(Estimator):
    """A DNN with a head of your choice (TensorFlow's ``tf.estimator.DNNEstimator``).

    Args:
        head: An ``est.*Head``.
        hidden_units: Units per hidden layer, e.g. ``[64, 32]``.
        feature_columns: Dense feature columns (numeric, bucketized, indicator, embedding).
        model_dir: As :class:`~torch_estimator.Estimator`.
        optimizer: A name (``'Adagrad'`` by default; names get learning rate 0.05, TF's canned
            default) or a callable ``params -> torch.optim.Optimizer``.
        activation_fn: Applied after each hidden layer (default ReLU).
        dropout: Probability of dropping a hidden unit in training, or None.
        config: A :class:`~torch_estimator.RunConfig`.
        warm_start_from: As :class:`~torch_estimator.Estimator`.
        batch_norm: Batch normalisation after each hidden layer.

    Example:
        >>> import tempfile, numpy as np, torch_estimator as est
        >>> columns = [est.feature_column.numeric_column("x", shape=(2,))]
        >>> estimator = est.DNNEstimator(est.RegressionHead(), [8], columns, model_dir=tempfile.mkdtemp(),
        ...                              config=est.RunConfig(progress_bar=False, tf_random_seed=0))
        >>> data = {"x": np.ones((4, 2), np.float32)}, np.ones((4, 1), np.float32)
        >>> estimator.train(lambda: data, steps=3).evaluate(lambda: data)["global_step"]
        3
    """

    def __init__(self, head: Any, hidden_units: Sequence[int], feature_columns: Any,
                 model_dir: str | os.PathLike | None = None, optimizer: Any = "Adagrad",
                 activation_fn: Callable = torch.relu, dropout: float | None = None,
                 config: RunConfig | None = None, warm_start_from: Any = None, batch_norm: bool = False) -> None:
        columns = check_feature_columns(feature_columns)
        logit_fn = dnn_logit_fn(columns, hidden_units, head.logits_dimension, activation_fn, dropout, batch_norm)
        super().__init__(canned_model_fn(head, logit_fn, update(optimizer, LEARNING_RATE)), model_dir=model_dir,
                         config=config, warm_start_from=warm_start_from)
        self.head = head


class DNNClassifier(DNNEstimator):
    """A DNN classifier (TensorFlow's ``tf.estimator.DNNClassifier``): binary head for
    ``n_classes=2``, multi-class head above; other arguments as :class:`DNNEstimator`.

    Example:
        >>> import tempfile, numpy as np, torch_estimator as est
        >>> columns = [est.feature_column.numeric_column("x")]
        >>> classifier = est.DNNClassifier([4], columns, n_classes=3, model_dir=tempfile.mkdtemp(),
        ...                                config=est.RunConfig(progress_bar=False))
        >>> data = {"x": np.arange(6, dtype=np.float32)}, np.array([0, 1, 2, 0, 1, 2])
        >>> sorted(classifier.train(lambda: data, steps=2).evaluate(lambda: data))
        ['accuracy', 'average_loss', 'global_step', 'loss']
    """

    def __init__(self, hidden_units: Sequence[int], feature_columns: Any, model_dir: str | os.PathLike | None = None,
                 n_classes: int = 2, weight_column: Any = None, label_vocabulary: Sequence[str] | None = None,
                 optimizer: Any = "Adagrad", activation_fn: Callable = torch.relu, dropout: float | None = None,
                 config: RunConfig | None = None, warm_start_from: Any = None,
                 loss_reduction: str = DEFAULT_REDUCTION, batch_norm: bool = False) -> None:
        super().__init__(classifier_head(n_classes, weight_column, label_vocabulary, loss_reduction), hidden_units,
                         feature_columns, model_dir, optimizer, activation_fn, dropout, config, warm_start_from,
                         batch_norm)


class DNNRegressor(DNNEstimator):
    """A DNN regressor (TensorFlow's ``tf.estimator.DNNRegressor``); ``label_dimension`` labels
    per example; other arguments as :class:`DNNEstimator`.

    Example:
        >>> import tempfile, numpy as np, torch_estimator as est
        >>> columns = [est.feature_column.numeric_column("x")]
        >>> regressor = est.DNNRegressor([4], columns, model_dir=tempfile.mkdtemp(),
        ...                              config=est.RunConfig(progress_bar=False))
        >>> data = {"x": np.arange(4, dtype=np.float32)}, np.arange(4, dtype=np.float32)
        >>> sorted(regressor.train(lambda: data, steps=2).evaluate(lambda: data))
        ['average_loss', 'global_step', 'label/mean', 'loss', 'prediction/mean']
    """

    def __init__(self, hidden_units: Sequence[int], feature_columns: Any, model_dir: str | os.PathLike | None = None,
                 label_dimension: int = 1, weight_column: Any = None, optimizer: Any = "Adagrad",
                 activation_fn: Callable = torch.relu, dropout: float | None = None, config: RunConfig | None = None,
                 warm_start_from: Any = None, loss_reduction: str = DEFAULT_REDUCTION, batch_norm: bool = False) -> None:
        super().__init__(regressor_head(label_dimension, weight_column, loss_reduction), hidden_units,
                         feature_columns, model_dir, optimizer, activation_fn, dropout, config, warm_start_from,
                         batch_norm)


__all__ = ["DNN", "DNNClassifier", "DNNEstimator", "DNNRegressor"]
