"""What every canned estimator shares: the head choice, the optimizer defaults, the model_fn closure.

A canned estimator is TensorFlow's recipe: a **head** (loss, predictions, metrics, signatures),
a **network** producing logits from the features through feature columns, and a ``model_fn``
closure joining them. It is an ordinary :class:`~torch_estimator.Estimator` built from that
closure: ``train``/``evaluate``/``predict``/``export_saved_model`` are the Estimator's own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from torch_estimator.errors import message
from torch_estimator.heads import BinaryClassHead, MultiClassHead, RegressionHead
from torch_estimator.heads.losses import Reduction
from torch_estimator.mode_keys import ModeKeys
from torch_estimator.spec import EstimatorSpec
from torch_estimator.train.minimize import minimize

LogitFn = Callable[[Any, str], torch.Tensor]


def classifier_head(n_classes: int, weight_column: Any, label_vocabulary: Sequence[str] | None,
                    loss_reduction: str) -> Any:
    """TensorFlow's choice: a binary head for 2 classes, a multi-class head above."""
    if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes < 2:
        raise ValueError(message("n_classes must be an int >= 2", fix="Use n_classes=2 for binary classification",
                                 n_classes=n_classes))
    if n_classes == 2:
        return BinaryClassHead(weight_column=weight_column, label_vocabulary=label_vocabulary,
                               loss_reduction=loss_reduction)
    return MultiClassHead(n_classes, weight_column=weight_column, label_vocabulary=label_vocabulary,
                          loss_reduction=loss_reduction)


def regressor_head(label_dimension: int, weight_column: Any, loss_reduction: str) -> RegressionHead:
    return RegressionHead(label_dimension=label_dimension, weight_column=weight_column, loss_reduction=loss_reduction)


def linear_learning_rate(feature_columns: Iterable[Any], cap: float) -> float:
    """TensorFlow's default for linear models: ``min(cap, 1 / sqrt(number of columns))``."""
    count = len(list(feature_columns))
    return min(cap, 1.0 / math.sqrt(count)) if count else cap


def update(optimizer: Any, default_learning_rate: float) -> Callable[[torch.Tensor], Any]:
    """``train_op_fn`` for one optimizer: a name gets the canned default learning rate (as
    TensorFlow's canned estimators did); a callable ``params -> Optimizer`` keeps its own."""
    learning_rate = default_learning_rate if isinstance(optimizer, str) else None
    return lambda loss: minimize(loss, optimizer, learning_rate=learning_rate)


def canned_model_fn(head: Any, logit_fn: LogitFn, train_op_fn: Callable[[torch.Tensor], Any]) -> Callable:
    """The ``model_fn`` closure: logits from the network, everything else from the head."""

    def model_fn(features: Any, labels: Any, mode: str) -> EstimatorSpec:
        logits = logit_fn(features, mode)
        return head.create_estimator_spec(features, mode, logits, labels=labels,
                                          train_op_fn=train_op_fn if mode == ModeKeys.TRAIN else None)

    # Everything here reads features through Python's dict methods (input_layer, linear_model,
    # the head), so the loops may hand over LazyFeatures: a batch's packed numeric columns go to
    # the network as one tensor, without a tensor per column per step (loops/batches.py).
    model_fn.lazy_features = True
    return model_fn


def check_feature_columns(feature_columns: Any, argument: str = "feature_columns") -> list[Any]:
    columns = [] if feature_columns is None else list(feature_columns)
    if not columns:
        raise ValueError(message(f"{argument} must not be empty", expected="a list of est.feature_column columns",
                                 fix="Describe the inputs, e.g. [est.feature_column.numeric_column('x')]",
                                 **{argument: feature_columns}))
    return columns


DEFAULT_REDUCTION = Reduction.SUM_OVER_BATCH_SIZE
