"""The ``Head`` interface and the one ``create_estimator_spec`` every head shares.

A head turns a network's logits into everything ``model_fn`` must return: the loss, predictions,
evaluation metrics with TensorFlow's names, a train op and serving signatures. A custom
``model_fn`` becomes three lines::

    def model_fn(features, labels, mode):
        logits = est.get_module("net", lambda: torch.nn.Linear(4, 1))(features["x"])
        return head.create_estimator_spec(features, mode, logits, labels, optimizer="Adagrad")

Metrics differ from TensorFlow in shape only: TF's ``metrics()`` built metric objects and
``update_metrics()`` fed them; here :meth:`Head.eval_metric_ops` returns one batch's
``est.metrics.MetricOp`` s, which the evaluation loop accumulates (exactly, across processes).
``metrics()`` / ``update_metrics()`` are kept on every head for code that drives them by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any, Protocol, runtime_checkable

import torch
import torchmetrics

from torch_estimator.errors import message
from torch_estimator.export.outputs import ExportOutput, PredictOutput
from torch_estimator.metrics import MetricOp
from torch_estimator.mode_keys import ModeKeys
from torch_estimator.spec import EstimatorSpec
from torch_estimator.train.minimize import minimize


@runtime_checkable
class Head(Protocol):
    """What a head provides; :class:`MultiHead` and canned estimators rely on nothing else.

    Attributes:
        name: Suffix of the head's metric keys (``'auc/<name>'``), or None.
        logits_dimension: Size of the last dimension of the logits the head expects.
        loss_reduction: An ``est.losses.Reduction`` value.
    """

    @property
    def name(self) -> str | None: ...

    @property
    def logits_dimension(self) -> int: ...

    @property
    def loss_reduction(self) -> str: ...

    def loss(self, labels: Any, logits: Any, features: Any = None, mode: str | None = None,
             regularization_losses: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """The regularized training loss, a scalar."""

    def predictions(self, logits: Any, keys: Sequence[str] | None = None) -> dict[str, Any]:
        """The predictions for ``keys`` (all when None)."""

    def eval_metric_ops(self, features: Any, logits: Any, labels: Any,
                        regularization_losses: Sequence[torch.Tensor] | None = None) -> dict[str, MetricOp]:
        """One batch's metrics, for ``EstimatorSpec(eval_metric_ops=...)``."""

    def create_estimator_spec(self, features: Any, mode: str, logits: Any, labels: Any = None,
                              optimizer: Any = None, trainable_variables: Any = None,
                              train_op_fn: Callable[[torch.Tensor], Any] | None = None,
                              update_ops: Sequence[Callable[[], Any]] | None = None,
                              regularization_losses: Sequence[torch.Tensor] | None = None) -> EstimatorSpec:
        """The ``EstimatorSpec`` for ``mode``."""


def estimator_spec(head: Head, features: Any, mode: str, logits: Any, labels: Any, *,
                   optimizer: Any, trainable_variables: Any, train_op_fn: Any, update_ops: Any,
                   regularization_losses: Any, tensor_keys: Sequence[str],
                   export_outputs: Callable[[dict[str, Any]], dict[str, ExportOutput]]) -> EstimatorSpec:
    """The body of every single head's ``create_estimator_spec``.

    Args:
        head: The head.
        features, mode, logits, labels, optimizer, trainable_variables, train_op_fn, update_ops,
            regularization_losses: As :meth:`Head.create_estimator_spec`.
        tensor_keys: The prediction keys put in TRAIN and EVAL specs: the tensor-valued ones.
            The string ``classes`` predictions cost a device-to-host copy, so they are only made
            in PREDICT mode (TensorFlow made them in every mode).
        export_outputs: Builds the PREDICT signatures from the predictions.

    Raises:
        ValueError: an unknown mode, missing labels, or a wrong optimizer/train_op_fn combination.
    """
    if mode not in ModeKeys.ALL:
        raise ValueError(message("mode unrecognized", expected=f"one of {ModeKeys.ALL}",
                                 fix="Pass the mode model_fn received", mode=mode))
    if mode == ModeKeys.PREDICT:
        predictions = head.predictions(logits)
        return EstimatorSpec(mode, predictions=predictions, export_outputs=export_outputs(predictions))
    if mode == ModeKeys.TRAIN:
        check_train_op_args(optimizer, train_op_fn, update_ops)
    predictions = head.predictions(logits, tensor_keys)
    loss = head.loss(labels, logits, features, mode, regularization_losses)
    if mode == ModeKeys.EVAL:
        return EstimatorSpec(mode, predictions=predictions, loss=loss,
                             eval_metric_ops=head.eval_metric_ops(features, logits, labels, regularization_losses))
    return EstimatorSpec(mode, predictions=predictions, loss=loss,
                         train_op=make_train_op(loss, optimizer, train_op_fn, trainable_variables, update_ops,
                                                checked=True))


def check_train_op_args(optimizer: Any, train_op_fn: Any, update_ops: Any) -> None:
    """TensorFlow's rules: exactly one of optimizer / train_op_fn; update_ops a list of callables.

    Example:
        >>> check_train_op_args("Adagrad", None, None)
    """
    if optimizer is not None and train_op_fn is not None:
        raise ValueError(message("train_op_fn and optimizer cannot both be set", expected="exactly one of them",
                                 fix="Pass optimizer='Adagrad' (or another optimizer), or train_op_fn, not both",
                                 optimizer=optimizer, train_op_fn=train_op_fn))
    if optimizer is None and train_op_fn is None:
        raise ValueError(message("train_op_fn and optimizer cannot both be None", expected="one of them in TRAIN "
                                 "mode", fix="Pass e.g. optimizer='Adagrad', or train_op_fn=lambda loss: "
                                 "est.train.minimize(loss, 'Adam')", optimizer=None, train_op_fn=None))
    if update_ops is not None:
        if not isinstance(update_ops, (list, tuple)):
            raise ValueError(message("update_ops should be a list or a tuple",
                                     fix="Wrap it in a list: update_ops=[op]",
                                     update_ops_type=type(update_ops).__name__))
        wrong = [type(op).__name__ for op in update_ops if not callable(op)]
        if wrong:
            raise TypeError(message("update_ops must be zero-argument callables", expected="functions run after "
                                    "each training update", fix="Wrap each update in a function",
                                    update_ops=wrong))


def make_train_op(loss: torch.Tensor, optimizer: Any, train_op_fn: Any, trainable_variables: Any,
                  update_ops: Sequence[Callable[[], Any]] | None, *, checked: bool = False) -> Callable[[], None]:
    """``est.train.minimize(loss, optimizer)``, or ``train_op_fn(loss)``; then the ``update_ops``.

    ``trainable_variables`` becomes minimize's ``var_list`` (default: every trainable parameter
    of the Estimator, where TF 2 required the list). ``checked``: the caller already ran
    :func:`check_train_op_args` on these arguments (heads do, before computing the loss).

    Example:
        >>> loss = torch.tensor(1.0, requires_grad=True)
        >>> type(make_train_op(loss, "Adagrad", None, None, None)).__name__
        'TrainOp'
    """
    if not checked:
        check_train_op_args(optimizer, train_op_fn, update_ops)
    if optimizer is not None:
        train_op = minimize(loss, optimizer, var_list=trainable_variables)
    else:
        train_op = train_op_fn(loss)
        if not callable(train_op):
            raise TypeError(message("train_op_fn must return a train op", expected="est.train.minimize(loss, ...) "
                                    "or a zero-argument callable", fix="Return est.train.minimize(loss, 'Adam')",
                                    returned=type(train_op).__name__))
    if not update_ops:
        return train_op

    def train_op_and_updates() -> None:  # TF's tf.group(train_op, *update_ops)
        train_op()
        for update in update_ops:
            update()

    return train_op_and_updates


def tensor_predictions(predictions: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The tensor-valued predictions: what a ``predict`` signature can export.

    Example:
        >>> sorted(tensor_predictions({"logits": torch.zeros(1, 1), "classes": ["0"]}))
        ['logits']
    """
    return {key: value for key, value in predictions.items() if isinstance(value, torch.Tensor)}


def predict_output(predictions: Mapping[str, Any]) -> PredictOutput:
    """``PredictOutput`` of the tensor predictions: string ``classes`` cannot be exported.

    Example:
        >>> sorted(predict_output({"logits": torch.zeros(1, 1), "classes": ["0"]}).outputs)
        ['logits']
    """
    return PredictOutput(tensor_predictions(predictions))


def check_prediction_keys(keys: Sequence[str] | None, valid_keys: Sequence[str]) -> Sequence[str]:
    """``keys`` (all ``valid_keys`` when empty) after checking each is valid.

    Raises:
        ValueError: an unknown key.

    Example:
        >>> check_prediction_keys(None, ("logits", "probabilities"))
        ('logits', 'probabilities')
    """
    if not keys:
        return tuple(valid_keys)
    if isinstance(keys, str):
        keys = (keys,)
    unknown = [key for key in keys if key not in valid_keys]
    if unknown:
        raise ValueError(message("Prediction key must be in PredictionKeys", expected=f"some of {list(valid_keys)}",
                                 fix="Ask for one of this head's prediction keys", keys=unknown))
    return tuple(keys)


def metric_ops_into(eval_metrics: MutableMapping[str, torchmetrics.Metric],
                    ops: Mapping[str, MetricOp]) -> MutableMapping[str, torchmetrics.Metric]:
    """Feeds one batch of ``ops`` into ``eval_metrics`` (TF's ``update_metrics``), creating accumulators.

    Read the values with ``est.metrics.compute_value(eval_metrics[key])``.

    Example:
        >>> from torch_estimator import metrics
        >>> accumulators = {}
        >>> _ = metric_ops_into(accumulators, {"m": metrics.mean(torch.tensor([1.0, 3.0]))})
        >>> _ = metric_ops_into(accumulators, {"m": metrics.mean(torch.tensor([5.0]))})
        >>> metrics.compute_value(accumulators["m"])  # (1 + 3 + 5) / 3
        3.0
    """
    for name, op in ops.items():
        metric = eval_metrics.get(name)
        if metric is None:
            metric = eval_metrics[name] = op.create()
        op.update(metric)
    return eval_metrics


def threshold_problems(thresholds: Any) -> list[str]:
    """What is wrong with ``thresholds`` (each must lie strictly inside (0, 1)).

    Example:
        >>> threshold_problems([0.5]), len(threshold_problems([1.0]))
        ([], 1)
    """
    if thresholds is None:
        return []
    try:
        values = [float(t) for t in thresholds]
    except (TypeError, ValueError):
        return [message("thresholds must be numbers", expected="an iterable of floats in (0, 1)",
                        fix="Pass e.g. thresholds=[0.25, 0.5]", thresholds=thresholds)]
    outside = [t for t in values if not 0.0 < t < 1.0]
    if outside:
        return [message("thresholds not in (0, 1)", expected="every threshold strictly between 0 and 1",
                        fix="Drop or fix the listed thresholds", thresholds=outside)]
    return []


def name_problems(name: Any) -> list[str]:
    """A head's ``name`` must be None or a non-empty string without ``'/'``.

    Example:
        >>> name_problems("churn"), len(name_problems("a/b"))
        ([], 1)
    """
    if name is None or (isinstance(name, str) and name and "/" not in name):
        return []
    return [message("A head's name must be a non-empty string without '/'",
                    expected="a name such as 'churn' (metric keys become 'auc/churn')",
                    fix="Pass another name, or name=None", name=name)]


def raise_problems(problems: list[str], head: str) -> None:
    """Raises one ``ValueError`` listing every constructor problem at once."""
    if problems:
        raise ValueError(f"Invalid {head} arguments: " + " ".join(problems))


def regularization(regularization_losses: Sequence[torch.Tensor] | None) -> torch.Tensor | None:
    """The sum of the regularization losses (TF's ``add_n``), or None.

    Example:
        >>> regularization([torch.tensor(0.5), torch.tensor(0.25)])
        tensor(0.7500)
    """
    if regularization_losses is None:
        return None
    if not isinstance(regularization_losses, (list, tuple)) or not regularization_losses:
        raise ValueError(message("regularization_losses must be a non-empty list of scalar tensors",
                                 fix="Pass e.g. regularization_losses=[1e-4 * weight.square().sum()], or None",
                                 regularization_losses=type(regularization_losses).__name__))
    total = regularization_losses[0]
    for loss in regularization_losses[1:]:
        total = total + loss
    if not isinstance(total, torch.Tensor) or total.numel() != 1:
        raise ValueError(message("regularization_losses must be scalar tensors",
                                 fix="Reduce each regularization loss to a scalar",
                                 total=list(total.shape) if isinstance(total, torch.Tensor) else type(total).__name__))
    return total.reshape(())


def tf_metrics(head: Any, regularization_losses: Sequence[torch.Tensor] | None = None) -> dict[str, torchmetrics.Metric]:
    """TF's ``Head.metrics()``: an empty accumulator dict for :func:`tf_update_metrics`
    (accumulators are created by the first update). Bound as ``metrics`` on every head."""
    del head, regularization_losses
    return {}


def tf_update_metrics(head: Any, eval_metrics: MutableMapping[str, torchmetrics.Metric], features: Any, logits: Any,
                      labels: Any, regularization_losses: Sequence[torch.Tensor] | None = None
                      ) -> MutableMapping[str, torchmetrics.Metric]:
    """TF's ``Head.update_metrics()``: adds one batch to ``eval_metrics``; read values with
    ``est.metrics.compute_value``. Bound as ``update_metrics`` on every head."""
    return metric_ops_into(eval_metrics, head.eval_metric_ops(features, logits, labels, regularization_losses))
