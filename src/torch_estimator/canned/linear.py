"""``LinearClassifier``, ``LinearRegressor``, ``LinearEstimator``: linear models over feature columns."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch

from torch_estimator.canned.base import (
    DEFAULT_REDUCTION,
    canned_model_fn,
    check_feature_columns,
    classifier_head,
    linear_learning_rate,
    regressor_head,
    update,
)
from torch_estimator.config import RunConfig
from torch_estimator.estimator import Estimator
from torch_estimator.feature_column import linear_model

# A named optimizer gets min(0.2, 1 / sqrt(number of columns)), as the issue asks. TensorFlow
# itself applied that rule only to optimizer=None (its default Ftrl) and gave a name 0.2: the same
# up to 25 columns; beyond, pass the rate (e.g. lambda p: est.train.make_optimizer("Ftrl", p, 0.2)).
LEARNING_RATE = 0.2


def linear_logit_fn(feature_columns: list[Any], logits_dimension: int, sparse_combiner: str,
                    prefix: str = "linear") -> Callable[[Any, str], torch.Tensor]:
    """Features -> ``linear_model`` (module ``<prefix>/linear_model``, as TF's scope) -> logits."""

    def logit_fn(features: Any, mode: str) -> torch.Tensor:
        return linear_model(features, feature_columns, units=logits_dimension, sparse_combiner=sparse_combiner,
                            name=f"{prefix}/linear_model")

    return logit_fn


class LinearEstimator(Estimator):
    """A linear model with a head of your choice (TensorFlow's ``tf.estimator.LinearEstimator``).

    Args:
        head: An ``est.*Head``.
        feature_columns: Dense or categorical feature columns.
        model_dir: As :class:`~torch_estimator.Estimator`.
        optimizer: A name (``'Ftrl'`` by default; names get learning rate
            ``min(0.2, 1/sqrt(len(feature_columns)))``, TF's default) or a callable
            ``params -> torch.optim.Optimizer``.
        config: A :class:`~torch_estimator.RunConfig`.
        sparse_combiner: How multi-valued categorical inputs combine: ``'sum'``, ``'mean'``, ``'sqrtn'``.
        warm_start_from: As :class:`~torch_estimator.Estimator`.

    Example:
        >>> import tempfile, numpy as np, torch_estimator as est
        >>> columns = [est.feature_column.numeric_column("x")]
        >>> estimator = est.LinearEstimator(est.RegressionHead(), columns, model_dir=tempfile.mkdtemp(),
        ...                                 config=est.RunConfig(progress_bar=False))
        >>> data = {"x": np.arange(4, dtype=np.float32)}, np.arange(4, dtype=np.float32)
        >>> estimator.train(lambda: data, steps=2).evaluate(lambda: data)["global_step"]
        2
    """

    def __init__(self, head: Any, feature_columns: Any, model_dir: str | os.PathLike | None = None,
                 optimizer: Any = "Ftrl", config: RunConfig | None = None, sparse_combiner: str = "sum",
                 warm_start_from: Any = None) -> None:
        columns = check_feature_columns(feature_columns)
        logit_fn = linear_logit_fn(columns, head.logits_dimension, sparse_combiner)
        learning_rate = linear_learning_rate(columns, LEARNING_RATE)
        optimizer = "Ftrl" if optimizer is None else optimizer  # TF: `optimizer or <the default Ftrl>`
        super().__init__(canned_model_fn(head, logit_fn, update(optimizer, learning_rate)), model_dir=model_dir,
                         config=config, warm_start_from=warm_start_from)
        self.head = head


class LinearClassifier(LinearEstimator):
    """A linear classifier (TensorFlow's ``tf.estimator.LinearClassifier``); other arguments as
    :class:`LinearEstimator`."""

    def __init__(self, feature_columns: Any, model_dir: str | os.PathLike | None = None, n_classes: int = 2,
                 weight_column: Any = None, label_vocabulary: Sequence[str] | None = None, optimizer: Any = "Ftrl",
                 config: RunConfig | None = None, warm_start_from: Any = None,
                 loss_reduction: str = DEFAULT_REDUCTION, sparse_combiner: str = "sum") -> None:
        super().__init__(classifier_head(n_classes, weight_column, label_vocabulary, loss_reduction), feature_columns,
                         model_dir, optimizer, config, sparse_combiner, warm_start_from)


class LinearRegressor(LinearEstimator):
    """A linear regressor (TensorFlow's ``tf.estimator.LinearRegressor``); other arguments as
    :class:`LinearEstimator`.

    Example:
        >>> import tempfile, numpy as np, torch_estimator as est
        >>> columns = [est.feature_column.numeric_column("sq_footage")]
        >>> regressor = est.LinearRegressor(columns, model_dir=tempfile.mkdtemp(),
        ...                                 config=est.RunConfig(progress_bar=False))
        >>> data = {"sq_footage": np.array([1000.0, 2000.0])}, np.array([50.0, 100.0])
        >>> regressor.train(lambda: data, steps=100).evaluate(lambda: data)["global_step"]
        100
    """

    def __init__(self, feature_columns: Any, model_dir: str | os.PathLike | None = None, label_dimension: int = 1,
                 weight_column: Any = None, optimizer: Any = "Ftrl", config: RunConfig | None = None,
                 warm_start_from: Any = None, loss_reduction: str = DEFAULT_REDUCTION,
                 sparse_combiner: str = "sum") -> None:
        super().__init__(regressor_head(label_dimension, weight_column, loss_reduction), feature_columns, model_dir,
                         optimizer, config, sparse_combiner, warm_start_from)
