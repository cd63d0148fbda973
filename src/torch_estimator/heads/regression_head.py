"""``RegressionHead`` and its two generalized-linear-model forms, Poisson and logistic."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from torch_estimator import metrics
from torch_estimator.errors import message
from torch_estimator.export.outputs import RegressionOutput
from torch_estimator.heads.classification import common_ops
from torch_estimator.heads.head import (
    tf_metrics,
    tf_update_metrics,
    check_prediction_keys,
    estimator_spec,
    name_problems,
    predict_output,
    raise_problems,
    regularization,
)
from torch_estimator.heads.keys import (
    DEFAULT_SERVING_KEY,
    PREDICT_SERVING_KEY,
    REGRESS_SERVING_KEY,
    MetricKeys,
    PredictionKeys,
    summary_key,
)
from torch_estimator.heads.losses import Reduction, call_loss_fn, loss_problems, training_loss
from torch_estimator.heads.tensors import (
    check_label_range,
    check_logits,
    example_weights,
    labels_tensor,
    match_labels_to_logits,
    weight_column_problems,
)
from torch_estimator.metrics import MetricOp
from torch_estimator.spec import EstimatorSpec


class RegressionHead:
    """A head for regression: squared error between logits and ``label_dimension`` float labels.

    Predictions: ``predictions`` (``inverse_link_fn(logits)``, or the logits), plus ``logits``
    when there is an inverse link. Metrics: ``average_loss``, ``label/mean``,
    ``prediction/mean``, ``regularization_loss`` (with regularization losses); suffixed
    ``/<name>`` when named. Signatures: ``serving_default`` and ``regression`` (the
    predictions), ``predict``.

    The loss is computed on the logits, as TensorFlow does: ``inverse_link_fn`` only maps them
    to predictions, so pair it with a ``loss_fn`` made for the link (see
    :class:`PoissonRegressionHead`, :class:`LogisticRegressionHead`).

    Args:
        label_dimension: Number of values per example (the last dimension of labels and logits).
        weight_column: Name of the feature holding weights: one per example (``[batch]`` or
            ``[batch, 1]``) or one per label value (``[batch, label_dimension]``).
        loss_reduction: An ``est.losses.Reduction`` except ``NONE``. The default divides the
            weighted sum by ``batch_size * label_dimension``.
        loss_fn: ``loss_fn(labels, logits[, features][, loss_reduction])`` returning the
            unreduced ``[batch, label_dimension]`` loss; labels are float.
        inverse_link_fn: ``logits -> predictions``, e.g. ``torch.exp``.
        name: Suffix of the metric keys; required inside a :class:`MultiHead`.

    Raises:
        ValueError: listing every invalid argument at once.

    Example:
        >>> import torch
        >>> from torch_estimator.heads import RegressionHead
        >>> head = RegressionHead()
        >>> logits, labels = torch.tensor([[45.0], [41.0]]), torch.tensor([[43.0], [44.0]])
        >>> float(head.loss(labels, logits))  # ((45 - 43)^2 + (41 - 44)^2) / 2 = (4 + 9) / 2
        6.5
    """

    def __init__(self, label_dimension: int = 1, weight_column: Any = None,
                 loss_reduction: str = Reduction.SUM_OVER_BATCH_SIZE,
                 loss_fn: Callable[..., torch.Tensor] | None = None,
                 inverse_link_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 name: str | None = None) -> None:
        problems = []
        if isinstance(label_dimension, bool) or not isinstance(label_dimension, int) or label_dimension < 1:
            problems.append(message("Invalid label_dimension", expected="an integer >= 1", fix="Pass the number of "
                                    "values to predict per example", label_dimension=label_dimension))
        if inverse_link_fn is not None and not callable(inverse_link_fn):
            problems.append(message("inverse_link_fn must be callable", expected="a function logits -> predictions",
                                    fix="Pass e.g. inverse_link_fn=torch.exp",
                                    inverse_link_fn_type=type(inverse_link_fn).__name__))
        raise_problems(problems + weight_column_problems(weight_column) + loss_problems(loss_reduction, loss_fn)
                       + name_problems(name), type(self).__name__)
        self._label_dimension = label_dimension
        self._weight_column = weight_column
        self._loss_reduction = loss_reduction
        self._loss_fn = loss_fn
        self._inverse_link_fn = inverse_link_fn
        self._name = name
        # Its tensor-valued prediction keys (all of them): made once, passed by identity.
        self._prediction_keys = (PredictionKeys.PREDICTIONS, PredictionKeys.LOGITS) if inverse_link_fn else (
            PredictionKeys.PREDICTIONS,)
        self._plain_mse = loss_fn is None and weight_column is None and loss_reduction in (
            Reduction.SUM_OVER_BATCH_SIZE, Reduction.AUTO)

    @property
    def name(self) -> str | None:
        """The head's name (metric key suffix), or None."""
        return self._name

    @property
    def logits_dimension(self) -> int:
        """``label_dimension``."""
        return self._label_dimension

    @property
    def loss_reduction(self) -> str:
        """The ``est.losses.Reduction`` of the training loss."""
        return self._loss_reduction

    def _batch(self, labels: Any, logits: Any, features: Any) -> tuple[torch.Tensor, ...]:
        """Checked logits, float labels, the unweighted ``[batch, label_dimension]`` loss, the weights."""
        logits = check_logits(logits, self._label_dimension)
        labels = match_labels_to_logits(labels_tensor(labels, logits), logits, self._label_dimension)
        labels = labels.to(logits.dtype)
        if self._loss_fn is not None:
            unweighted = call_loss_fn(self._loss_fn, labels, logits, features, self._loss_reduction,
                                      self._label_dimension)
        else:
            unweighted = F.mse_loss(logits, labels, reduction="none")
        weights = example_weights(features, self._weight_column, logits, allow_per_logit_weights=True)
        return logits, labels, unweighted, weights

    def loss(self, labels: Any, logits: Any, features: Any = None, mode: str | None = None,
             regularization_losses: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """The regularized training loss: the reduced weighted loss (+ regularization)."""
        del mode  # the loss is the same in every mode
        if (self._plain_mse and not regularization_losses and _float_matrix(logits, self._label_dimension)
                and type(labels) is torch.Tensor and labels.dtype == torch.float32 and labels.shape == logits.shape):
            return F.mse_loss(logits, labels)  # the per-step common case: sum / batch size in one op
        _, _, unweighted, weights = self._batch(labels, logits, features)
        return training_loss(unweighted, weights, self._loss_reduction, regularization(regularization_losses))

    def predictions(self, logits: Any, keys: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """``predictions`` (and ``logits`` with an inverse link) for ``keys`` (all when None)."""
        valid = self._prediction_keys
        if keys is not valid:  # the training step passes this very tuple: nothing to check
            keys = check_prediction_keys(keys, valid)
        if not _float_matrix(logits, self._label_dimension):
            logits = check_logits(logits, self._label_dimension)
        predictions = {}
        if PredictionKeys.PREDICTIONS in keys:
            predictions[PredictionKeys.PREDICTIONS] = self._inverse_link_fn(logits) if self._inverse_link_fn \
                else logits
        if PredictionKeys.LOGITS in keys:
            predictions[PredictionKeys.LOGITS] = logits
        return predictions

    def eval_metric_ops(self, features: Any, logits: Any, labels: Any,
                        regularization_losses: Sequence[torch.Tensor] | None = None) -> dict[str, MetricOp]:
        """One batch's ``average_loss``, ``label/mean``, ``prediction/mean`` (and ``regularization_loss``)."""
        logits, labels, unweighted, weights = self._batch(labels, logits, features)
        predicted = self._inverse_link_fn(logits) if self._inverse_link_fn else logits
        ops = common_ops(unweighted, weights, regularization(regularization_losses), self._name)
        ops[summary_key(MetricKeys.LABEL_MEAN, self._name)] = metrics.mean(labels, weights)
        ops[summary_key(MetricKeys.PREDICTION_MEAN, self._name)] = metrics.mean(predicted, weights)
        return ops

    # TF's metrics()/update_metrics() API, shared by every head (functions, not a base class).
    metrics = tf_metrics
    update_metrics = tf_update_metrics

    def create_estimator_spec(self, features: Any, mode: str, logits: Any, labels: Any = None,
                              optimizer: Any = None, trainable_variables: Any = None,
                              train_op_fn: Callable[[torch.Tensor], Any] | None = None,
                              update_ops: Sequence[Callable[[], Any]] | None = None,
                              regularization_losses: Sequence[torch.Tensor] | None = None) -> EstimatorSpec:
        """The ``EstimatorSpec`` for ``mode``; arguments as :meth:`BinaryClassHead.create_estimator_spec`."""
        def export_outputs(predictions: dict[str, Any]) -> dict[str, Any]:
            regression = RegressionOutput(predictions[PredictionKeys.PREDICTIONS])
            return {DEFAULT_SERVING_KEY: regression, REGRESS_SERVING_KEY: regression,
                    PREDICT_SERVING_KEY: predict_output(predictions)}

        return estimator_spec(self, features, mode, logits, labels, optimizer=optimizer,
                              trainable_variables=trainable_variables, train_op_fn=train_op_fn,
                              update_ops=update_ops, regularization_losses=regularization_losses,
                              tensor_keys=self._prediction_keys, export_outputs=export_outputs)


def _float_matrix(logits: Any, dimension: int) -> bool:
    """Logits that ``check_logits`` would return unchanged: a float32 ``[batch, dimension]`` tensor."""
    return (type(logits) is torch.Tensor and logits.dtype == torch.float32 and logits.ndim == 2
            and logits.shape[1] == dimension)


# The two GLM heads below only configure a RegressionHead (loss_fn and inverse link), as in
# TensorFlow, where they are RegressionHead subclasses too (isinstance checks keep working).


class PoissonRegressionHead(RegressionHead):
    """Poisson regression: ``log_poisson_loss`` on the logits (log rates), predictions ``exp(logits)``.

    Args:
        label_dimension: Number of counts per example.
        weight_column: As :class:`RegressionHead`.
        loss_reduction: As :class:`RegressionHead`.
        compute_full_loss: Add the Stirling approximation of ``log(labels!)`` (for labels > 1),
            which makes the loss a true negative log likelihood without changing gradients.
        name: As :class:`RegressionHead`.

    Example:
        >>> import torch
        >>> from torch_estimator.heads import PoissonRegressionHead
        >>> head = PoissonRegressionHead(compute_full_loss=False)
        >>> # exp(logit) - label * logit = exp(0) - 1 * 0 and exp(ln 2) - 3 ln 2 = 1 and 2 - 2.0794
        >>> round(float(head.loss(torch.tensor([[1.0], [3.0]]), torch.log(torch.tensor([[1.0], [2.0]])))), 4)
        0.4603
    """

    def __init__(self, label_dimension: int = 1, weight_column: Any = None,
                 loss_reduction: str = Reduction.SUM_OVER_BATCH_SIZE, compute_full_loss: bool = True,
                 name: str | None = None) -> None:
        def poisson_loss(labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
            return F.poisson_nll_loss(logits, labels, log_input=True, full=compute_full_loss, reduction="none")

        super().__init__(label_dimension, weight_column, loss_reduction, poisson_loss, torch.exp, name)
        self._compute_full_loss = compute_full_loss


class LogisticRegressionHead(RegressionHead):
    """Logistic regression: sigmoid cross entropy against float labels in [0, 1], predictions ``sigmoid``.

    Unlike :class:`BinaryClassHead`: no ``label_vocabulary``, labels may be any probability,
    predictions are only ``predictions`` and ``logits``, metrics are the regression ones, and
    the default signature is ``regression``.

    Args:
        weight_column: As :class:`RegressionHead`.
        loss_reduction: As :class:`RegressionHead`.
        name: As :class:`RegressionHead`.

    Example:
        >>> import torch
        >>> from torch_estimator.heads import LogisticRegressionHead
        >>> head = LogisticRegressionHead()
        >>> # label 0.5 against logit 0: -(0.5 log 0.5 + 0.5 log 0.5) = ln 2
        >>> round(float(head.loss(torch.tensor([0.5]), torch.tensor([[0.0]]))), 4)
        0.6931
    """

    def __init__(self, weight_column: Any = None, loss_reduction: str = Reduction.SUM_OVER_BATCH_SIZE,
                 name: str | None = None) -> None:
        super().__init__(1, weight_column, loss_reduction, _logistic_loss, torch.sigmoid, name)


def _logistic_loss(labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    check_label_range(labels, 0, 1, "Labels must be in range [0, 1]")
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
