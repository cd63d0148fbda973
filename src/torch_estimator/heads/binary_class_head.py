"""``BinaryClassHead``: sigmoid cross entropy over one logit per example."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from torch_estimator import metrics
from torch_estimator.export.outputs import RegressionOutput
from torch_estimator.heads import classification
from torch_estimator.heads.head import (
    tf_metrics,
    tf_update_metrics,
    check_prediction_keys,
    estimator_spec,
    name_problems,
    raise_problems,
    regularization,
    threshold_problems,
)
from torch_estimator.heads.keys import REGRESS_SERVING_KEY, MetricKeys, PredictionKeys, summary_key
from torch_estimator.heads.losses import Reduction, call_loss_fn, loss_problems, training_loss
from torch_estimator.heads.tensors import (
    check_label_range,
    check_logits,
    example_weights,
    match_labels_to_logits,
    weight_column_problems,
)
from torch_estimator.heads.vocabulary import LabelVocabulary, vocabulary_problems
from torch_estimator.metrics import MetricOp
from torch_estimator.spec import EstimatorSpec

_KEYS = (PredictionKeys.LOGITS, PredictionKeys.LOGISTIC, PredictionKeys.PROBABILITIES, PredictionKeys.CLASS_IDS,
         PredictionKeys.CLASSES, PredictionKeys.ALL_CLASS_IDS, PredictionKeys.ALL_CLASSES)
_TENSOR_KEYS = tuple(key for key in _KEYS if key not in PredictionKeys.STRING_KEYS)


class BinaryClassHead:
    """A head for binary classification: sigmoid cross entropy on ``[batch, 1]`` logits.

    Predictions: ``logits``, ``logistic`` (``sigmoid(logits)``), ``probabilities``
    (``[1 - logistic, logistic]``), ``class_ids`` (``[batch, 1]``, 1 where ``logits > 0``),
    ``classes`` (class names: numpy ``str`` arrays, where TensorFlow returned ``bytes``),
    ``all_class_ids`` and ``all_classes``. ``classes`` and ``all_classes`` are made in PREDICT
    mode (and by :meth:`predictions`), not in TRAIN/EVAL specs, where they would cost a
    device-to-host copy per step.

    Metrics: ``accuracy``, ``accuracy_baseline``, ``auc``, ``auc_precision_recall``,
    ``average_loss``, ``label/mean``, ``prediction/mean``, ``precision``, ``recall``,
    ``regularization_loss`` (with regularization losses) and, per threshold ``t``,
    ``accuracy/positive_threshold_<t>``, ``precision/...`` and ``recall/...``; all suffixed with
    ``/<name>`` for a named head.

    Signatures: ``serving_default`` and ``classification`` (``scores`` = probabilities,
    ``classes`` = class ids, see :func:`.classification_export_outputs`), ``regression``
    (the logistic) and ``predict`` (the tensor predictions).

    Args:
        weight_column: Name of the feature holding example weights (or a column with a
            ``key``). The loss and every metric are weighted by it.
        thresholds: Floats in (0, 1): extra accuracy/precision/recall metrics, a positive
            decision being ``logistic > threshold``.
        label_vocabulary: The two class names; labels are then strings (numpy arrays or lists
            of str), looked up vectorised. Without it labels are numbers in [0, 1].
        loss_reduction: An ``est.losses.Reduction`` except ``NONE``; how the weighted
            per-example losses become the training loss.
        loss_fn: ``loss_fn(labels, logits[, features][, loss_reduction])`` returning the
            unreduced ``[batch, 1]`` loss; labels are float ids in [0, 1].
        name: Suffix of the metric keys; required inside a :class:`MultiHead`.

    Raises:
        ValueError: listing every invalid argument at once.

    Example:
        >>> import torch
        >>> from torch_estimator.heads import BinaryClassHead
        >>> head = BinaryClassHead()
        >>> logits, labels = torch.tensor([[-1.0], [2.0]]), torch.tensor([[0], [1]])
        >>> # loss = mean(log(1 + e^-1), log(1 + e^-2)) = mean(0.3133, 0.1269)
        >>> round(float(head.loss(labels, logits)), 4)
        0.2201
        >>> head.predictions(logits)["classes"].tolist()
        [['0'], ['1']]
    """

    def __init__(self, weight_column: Any = None, thresholds: Sequence[float] | None = None,
                 label_vocabulary: Sequence[str] | None = None,
                 loss_reduction: str = Reduction.SUM_OVER_BATCH_SIZE,
                 loss_fn: Callable[..., torch.Tensor] | None = None, name: str | None = None) -> None:
        raise_problems(weight_column_problems(weight_column) + threshold_problems(thresholds)
                       + vocabulary_problems(label_vocabulary, 2) + loss_problems(loss_reduction, loss_fn)
                       + name_problems(name), "BinaryClassHead")
        self._weight_column = weight_column
        self._thresholds = tuple(float(t) for t in thresholds or ())
        self._vocabulary = LabelVocabulary(label_vocabulary, 2)
        self._loss_reduction = loss_reduction
        self._loss_fn = loss_fn
        self._name = name

    @property
    def name(self) -> str | None:
        """The head's name (metric key suffix), or None."""
        return self._name

    @property
    def logits_dimension(self) -> int:
        """1: one logit per example."""
        return 1

    @property
    def loss_reduction(self) -> str:
        """The ``est.losses.Reduction`` of the training loss."""
        return self._loss_reduction

    def _batch(self, labels: Any, logits: Any, features: Any) -> tuple[torch.Tensor, ...]:
        """Checked logits, float 0/1 labels, the unweighted ``[batch, 1]`` loss and the weights."""
        logits = check_logits(logits, 1)
        labels = classification.class_labels(labels, logits, self._vocabulary)
        labels = match_labels_to_logits(labels, logits, 1)
        check_label_range(labels, 0, 1, "Labels must be in [0, 1] (n_classes - 1 = 1)")
        labels = labels.to(logits.dtype)
        if self._loss_fn is not None:
            unweighted = call_loss_fn(self._loss_fn, labels, logits, features, self._loss_reduction, 1)
        else:
            unweighted = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
        return logits, labels, unweighted, example_weights(features, self._weight_column, logits)

    def loss(self, labels: Any, logits: Any, features: Any = None, mode: str | None = None,
             regularization_losses: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """The regularized training loss: reduced weighted sigmoid cross entropy (+ regularization).

        Raises:
            ValueError: bad logits, labels (shape, range, vocabulary) or weights.
        """
        del mode  # the loss is the same in every mode
        _, _, unweighted, weights = self._batch(labels, logits, features)
        return training_loss(unweighted, weights, self._loss_reduction, regularization(regularization_losses))

    def predictions(self, logits: Any, keys: Sequence[str] | None = None) -> dict[str, Any]:
        """The predictions for ``keys`` (all seven when None); see the class docstring.

        Raises:
            ValueError: an unknown key, or bad logits.
        """
        keys = check_prediction_keys(keys, _KEYS)
        logits = check_logits(logits, 1)
        predictions: dict[str, Any] = {}
        if PredictionKeys.LOGITS in keys:
            predictions[PredictionKeys.LOGITS] = logits
        if PredictionKeys.LOGISTIC in keys:
            predictions[PredictionKeys.LOGISTIC] = torch.sigmoid(logits)
        if PredictionKeys.PROBABILITIES in keys:
            # softmax([0, logit]) = [1 - sigmoid, sigmoid], computed stably for large |logit|.
            predictions[PredictionKeys.PROBABILITIES] = torch.softmax(
                torch.cat([torch.zeros_like(logits), logits], dim=-1), dim=-1)
        # argmax over [0, logit]: class 1 only when logit > 0 (a tie picks class 0, as TF's argmax).
        class_ids = (logits > 0).to(torch.int64)
        if PredictionKeys.CLASS_IDS in keys:
            predictions[PredictionKeys.CLASS_IDS] = class_ids
        if PredictionKeys.CLASSES in keys and classification.wants_strings():
            predictions[PredictionKeys.CLASSES] = self._vocabulary.strings(class_ids)
        if PredictionKeys.ALL_CLASS_IDS in keys:
            predictions[PredictionKeys.ALL_CLASS_IDS] = classification.all_class_ids(logits, 2)
        if PredictionKeys.ALL_CLASSES in keys and classification.wants_strings():
            predictions[PredictionKeys.ALL_CLASSES] = self._vocabulary.all_strings(logits.shape[:-1])
        return predictions

    def eval_metric_ops(self, features: Any, logits: Any, labels: Any,
                        regularization_losses: Sequence[torch.Tensor] | None = None) -> dict[str, MetricOp]:
        """One batch's metrics (see the class docstring), for ``EstimatorSpec(eval_metric_ops=...)``."""
        logits, labels, unweighted, weights = self._batch(labels, logits, features)
        logistic = torch.sigmoid(logits)
        class_ids = (logits > 0).to(torch.int64)

        def key(name: str) -> str:
            return summary_key(name, self._name)

        ops = classification.common_ops(unweighted, weights, regularization(regularization_losses), self._name)
        ops.update({
            key(MetricKeys.ACCURACY): metrics.accuracy(labels, class_ids, weights),
            key(MetricKeys.PRECISION): metrics.precision(labels, class_ids, weights),
            key(MetricKeys.RECALL): metrics.recall(labels, class_ids, weights),
            key(MetricKeys.PREDICTION_MEAN): metrics.mean(logistic, weights),
            key(MetricKeys.LABEL_MEAN): metrics.mean(labels, weights),
            key(MetricKeys.ACCURACY_BASELINE): classification.accuracy_baseline(labels, weights),
        })
        ops.update(classification.auc_ops(labels, logistic, weights, key(MetricKeys.AUC), key(MetricKeys.AUC_PR)))
        ops.update(classification.threshold_ops(labels, logistic, weights, self._thresholds, self._name))
        return ops

    # TF's metrics()/update_metrics() API, shared by every head (functions, not a base class).
    metrics = tf_metrics
    update_metrics = tf_update_metrics

    def create_estimator_spec(self, features: Any, mode: str, logits: Any, labels: Any = None,
                              optimizer: Any = None, trainable_variables: Any = None,
                              train_op_fn: Callable[[torch.Tensor], Any] | None = None,
                              update_ops: Sequence[Callable[[], Any]] | None = None,
                              regularization_losses: Sequence[torch.Tensor] | None = None) -> EstimatorSpec:
        """The ``EstimatorSpec`` for ``mode``: loss and metrics, train op, or predictions and signatures.

        Args:
            features: The features dict (the weight column is read from it).
            mode: A ``ModeKeys`` value.
            logits: ``[batch, 1]`` float tensor.
            labels: ``[batch]`` or ``[batch, 1]``; required in TRAIN and EVAL.
            optimizer: For TRAIN: an optimizer name, class or ``params -> Optimizer`` callable,
                used as ``est.train.minimize(loss, optimizer, var_list=trainable_variables)``.
            trainable_variables: Parameters to update (default all of the Estimator's).
            train_op_fn: Alternative to ``optimizer``: ``loss -> train_op``.
            update_ops: Zero-argument callables run after each update.
            regularization_losses: Scalar tensors added to the training loss.

        Raises:
            ValueError: an unknown mode, missing labels, or both/neither of optimizer and
                train_op_fn in TRAIN mode.
        """
        def export_outputs(predictions: dict[str, Any]) -> dict[str, Any]:
            outputs = classification.classification_export_outputs(
                predictions[PredictionKeys.PROBABILITIES], predictions[PredictionKeys.ALL_CLASS_IDS], predictions)
            outputs[REGRESS_SERVING_KEY] = RegressionOutput(predictions[PredictionKeys.LOGISTIC])
            return outputs

        return estimator_spec(self, features, mode, logits, labels, optimizer=optimizer,
                              trainable_variables=trainable_variables, train_op_fn=train_op_fn,
                              update_ops=update_ops, regularization_losses=regularization_losses,
                              tensor_keys=_TENSOR_KEYS, export_outputs=export_outputs)
