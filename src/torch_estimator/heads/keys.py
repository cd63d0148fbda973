"""TensorFlow's prediction, metric and signature key strings, as the canned heads use them.

Keeping TensorFlow's exact strings is what lets dashboards, early-stopping rules
(``stop_if_no_increase_hook(estimator, 'auc', ...)``) and serving clients migrate unchanged.
"""

from __future__ import annotations


class PredictionKeys:
    """Keys of the prediction dicts the heads return (TF's ``prediction_keys.PredictionKeys``).

    Example:
        >>> PredictionKeys.CLASS_IDS
        'class_ids'
    """

    LOGITS = "logits"
    LOGISTIC = "logistic"
    PROBABILITIES = "probabilities"
    CLASS_IDS = "class_ids"
    CLASSES = "classes"
    ALL_CLASS_IDS = "all_class_ids"
    ALL_CLASSES = "all_classes"
    PREDICTIONS = "predictions"

    #: The keys whose values are numpy string arrays rather than tensors.
    STRING_KEYS = (CLASSES, ALL_CLASSES)


class MetricKeys:
    """Metric names of the heads' ``eval_metric_ops`` (TF's ``metric_keys.MetricKeys``).

    The ``*_AT_*`` keys are ``%``-format strings: thresholds are formatted with ``%g``
    (``0.5`` -> ``'accuracy/positive_threshold_0.5'``), class ids with ``%d``, names with ``%s``.

    Example:
        >>> MetricKeys.ACCURACY_AT_THRESHOLD % 0.25
        'accuracy/positive_threshold_0.25'
    """

    LOSS = "loss"
    LOSS_MEAN = "average_loss"
    LOSS_REGULARIZATION = "regularization_loss"
    ACCURACY = "accuracy"
    PRECISION = "precision"
    RECALL = "recall"
    ACCURACY_BASELINE = "accuracy_baseline"
    AUC = "auc"
    AUC_PR = "auc_precision_recall"
    LABEL_MEAN = "label/mean"
    PREDICTION_MEAN = "prediction/mean"
    ACCURACY_AT_THRESHOLD = "accuracy/positive_threshold_%g"
    PRECISION_AT_THRESHOLD = "precision/positive_threshold_%g"
    RECALL_AT_THRESHOLD = "recall/positive_threshold_%g"
    PROBABILITY_MEAN_AT_CLASS = "probability_mean/class%d"
    AUC_AT_CLASS = "auc/class%d"
    AUC_PR_AT_CLASS = "auc_precision_recall/class%d"
    PROBABILITY_MEAN_AT_NAME = "probability_mean/%s"
    AUC_AT_NAME = "auc/%s"
    AUC_PR_AT_NAME = "auc_precision_recall/%s"


#: Signature names of the heads' ``export_outputs`` (TF's ``base_head.*_SERVING_KEY``).
DEFAULT_SERVING_KEY = "serving_default"
CLASSIFY_SERVING_KEY = "classification"
REGRESS_SERVING_KEY = "regression"
PREDICT_SERVING_KEY = "predict"


def summary_key(key: str, head_name: str | None) -> str:
    """``key`` suffixed with ``/<head_name>`` for a named head, as TensorFlow's heads do.

    Example:
        >>> summary_key("auc", "churn"), summary_key("auc", None)
        ('auc/churn', 'auc')
    """
    return f"{key}/{head_name}" if head_name else key
