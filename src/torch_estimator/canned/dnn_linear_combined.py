"""Wide & deep: ``DNNLinearCombinedClassifier``/``Regressor``/``Estimator``.

The linear ("wide") and DNN ("deep") towers each produce logits; their sum goes to the head.
Each tower has its own optimizer, as in TensorFlow: one backward pass, then both steps.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch

from torch_estimator.canned.base import DEFAULT_REDUCTION, classifier_head, linear_learning_rate, regressor_head
from torch_estimator.canned.dnn import dnn_logit_fn
from torch_estimator.canned.linear import linear_logit_fn
from torch_estimator.config import RunConfig
from torch_estimator.errors import message
from torch_estimator.estimator import Estimator
from torch_estimator.mode_keys import ModeKeys
from torch_estimator.modules import current_context
from torch_estimator.train.minimize import get_optimizer
from torch_estimator.train.optimizers import make_optimizer

DNN_LEARNING_RATE = 0.001  # TensorFlow's wide & deep defaults for optimizers given by name
LINEAR_LEARNING_RATE = 0.005


def _tower_parameters(prefix: str) -> list[torch.nn.Parameter]:
    registry = current_context("a wide & deep update").registry
    return [p for name, module in registry.named_children() if name == prefix or name.startswith(prefix + "/")
            for p in module.parameters() if p.requires_grad]


def _two_tower_update(towers: list[tuple[str, Any, float]]) -> Callable[[torch.Tensor], Callable[[], None]]:
    """``train_op_fn``: one backward, then each tower's own optimizer steps over its parameters."""

    def train_op_fn(loss: torch.Tensor) -> Callable[[], None]:
        def train_op() -> None:
            loss.backward()
            for prefix, optimizer, learning_rate in towers:
                params = _tower_parameters(prefix)
                chosen = get_optimizer(f"{prefix}_optimizer", lambda: make_optimizer(
                    optimizer, params, learning_rate if isinstance(optimizer, str) else None))
                chosen.step()
                chosen.zero_grad(set_to_none=True)

        return train_op

    return train_op_fn


def combined_model_fn(head: Any, linear_feature_columns: list[Any], linear_optimizer: Any,
                      dnn_feature_columns: list[Any], dnn_optimizer: Any, dnn_hidden_units: Sequence[int] | None,
                      dnn_activation_fn: Callable, dnn_dropout: float | None, batch_norm: bool,
                      linear_sparse_combiner: str) -> Callable:
    towers = []
    logit_fns = []
    if linear_feature_columns:
        logit_fns.append(linear_logit_fn(linear_feature_columns, head.logits_dimension, linear_sparse_combiner))
        towers.append(("linear", linear_optimizer, linear_learning_rate(linear_feature_columns, LINEAR_LEARNING_RATE)))
    if dnn_feature_columns:
        logit_fns.append(dnn_logit_fn(dnn_feature_columns, dnn_hidden_units, head.logits_dimension, dnn_activation_fn,
                                      dnn_dropout, batch_norm))
        towers.append(("dnn", dnn_optimizer, DNN_LEARNING_RATE))
    train_op_fn = _two_tower_update(towers)

    def model_fn(features: Any, labels: Any, mode: str):
        logits = sum(logit_fn(features, mode) for logit_fn in logit_fns)
        return head.create_estimator_spec(features, mode, logits, labels=labels,
                                          train_op_fn=train_op_fn if mode == ModeKeys.TRAIN else None)

    model_fn.lazy_features = True  # as canned_model_fn's: features are read through dict methods only
    return model_fn


def _check_towers(linear_feature_columns: Any, dnn_feature_columns: Any, dnn_hidden_units: Any) -> tuple[list, list]:
    linear = list(linear_feature_columns or [])
    dnn = list(dnn_feature_columns or [])
    if not linear and not dnn:
        raise ValueError(message("Either linear_feature_columns or dnn_feature_columns must be defined",
                                 fix="Give the wide tower, the deep tower, or both, some columns",
                                 linear_feature_columns=linear_feature_columns, dnn_feature_columns=dnn_feature_columns))
    if dnn and not dnn_hidden_units:
        raise ValueError(message("dnn_hidden_units must be defined when dnn_feature_columns is given",
                                 fix="Pass e.g. dnn_hidden_units=[64, 32]", dnn_hidden_units=dnn_hidden_units))
    return linear, dnn


class DNNLinearCombinedEstimator(Estimator):
    """Wide & deep with a head of your choice (TensorFlow's ``tf.estimator.DNNLinearCombinedEstimator``).

    Args:
        head: An ``est.*Head``.
        model_dir: As :class:`~torch_estimator.Estimator`.
        linear_feature_columns: Columns of the linear tower (any kind; crosses are typical).
        linear_optimizer: ``'Ftrl'`` by default (named: learning rate ``min(0.005, 1/sqrt(n))``).
        dnn_feature_columns: Dense columns of the DNN tower.
        dnn_optimizer: ``'Adagrad'`` by default (named: learning rate 0.001).
        dnn_hidden_units: Hidden layer sizes of the DNN tower.
        dnn_activation_fn: Activation of the DNN tower (default ReLU).
        dnn_dropout: Dropout probability of the DNN tower, or None.
        config: A :class:`~torch_estimator.RunConfig`.
        batch_norm: Batch normalisation in the DNN tower.
        linear_sparse_combiner: ``'sum'``, ``'mean'`` or ``'sqrtn'``.
        warm_start_from: As :class:`~torch_estimator.Estimator`.

    Example:
        >>> import tempfile, numpy as np, torch_estimator as est
        >>> fc = est.feature_column
        >>> estimator = est.DNNLinearCombinedEstimator(
        ...     est.RegressionHead(), model_dir=tempfile.mkdtemp(), config=est.RunConfig(progress_bar=False),
        ...     linear_feature_columns=[fc.categorical_column_with_vocabulary_list("t", ["a", "b"])],
        ...     dnn_feature_columns=[fc.numeric_column("x")], dnn_hidden_units=[4])
        >>> data = {"t": np.array(["a", "b"]), "x": np.array([1.0, 2.0])}, np.array([1.0, 2.0])
        >>> estimator.train(lambda: data, steps=2).evaluate(lambda: data)["global_step"]
        2
    """

    def __init__(self, head: Any, model_dir: str | os.PathLike | None = None, linear_feature_columns: Any = None,
                 linear_optimizer: Any = "Ftrl", dnn_feature_columns: Any = None, dnn_optimizer: Any = "Adagrad",
                 dnn_hidden_units: Sequence[int] | None = None, dnn_activation_fn: Callable = torch.relu,
                 dnn_dropout: float | None = None, config: RunConfig | None = None, batch_norm: bool = False,
                 linear_sparse_combiner: str = "sum", warm_start_from: Any = None) -> None:
        linear, dnn = _check_towers(linear_feature_columns, dnn_feature_columns, dnn_hidden_units)
        model_fn = combined_model_fn(head, linear, linear_optimizer, dnn, dnn_optimizer, dnn_hidden_units,
                                     dnn_activation_fn, dnn_dropout, batch_norm, linear_sparse_combiner)
        super().__init__(model_fn, model_dir=model_dir, config=config, warm_start_from=warm_start_from)
        self.head = head


class DNNLinearCombinedClassifier(DNNLinearCombinedEstimator):
    """Wide & deep classifier (TensorFlow's ``tf.estimator.DNNLinearCombinedClassifier``)."""

    def __init__(self, model_dir: str | os.PathLike | None = None, linear_feature_columns: Any = None,
                 linear_optimizer: Any = "Ftrl", dnn_feature_columns: Any = None, dnn_optimizer: Any = "Adagrad",
                 dnn_hidden_units: Sequence[int] | None = None, dnn_activation_fn: Callable = torch.relu,
                 dnn_dropout: float | None = None, n_classes: int = 2, weight_column: Any = None,
                 label_vocabulary: Sequence[str] | None = None, config: RunConfig | None = None,
                 warm_start_from: Any = None, loss_reduction: str = DEFAULT_REDUCTION, batch_norm: bool = False,
                 linear_sparse_combiner: str = "sum") -> None:
        super().__init__(classifier_head(n_classes, weight_column, label_vocabulary, loss_reduction), model_dir,
                         linear_feature_columns, linear_optimizer, dnn_feature_columns, dnn_optimizer,
                         dnn_hidden_units, dnn_activation_fn, dnn_dropout, config, batch_norm, linear_sparse_combiner,
                         warm_start_from)


class DNNLinearCombinedRegressor(DNNLinearCombinedEstimator):
    """Wide & deep regressor (TensorFlow's ``tf.estimator.DNNLinearCombinedRegressor``)."""

    def __init__(self, model_dir: str | os.PathLike | None = None, linear_feature_columns: Any = None,
                 linear_optimizer: Any = "Ftrl", dnn_feature_columns: Any = None, dnn_optimizer: Any = "Adagrad",
                 dnn_hidden_units: Sequence[int] | None = None, dnn_activation_fn: Callable = torch.relu,
                 dnn_dropout: float | None = None, label_dimension: int = 1, weight_column: Any = None,
                 config: RunConfig | None = None, warm_start_from: Any = None,
                 loss_reduction: str = DEFAULT_REDUCTION, batch_norm: bool = False,
                 linear_sparse_combiner: str = "sum") -> None:
        super().__init__(regressor_head(label_dimension, weight_column, loss_reduction), model_dir,
                         linear_feature_columns, linear_optimizer, dnn_feature_columns, dnn_optimizer,
                         dnn_hidden_units, dnn_activation_fn, dnn_dropout, config, batch_norm, linear_sparse_combiner,
                         warm_start_from)
