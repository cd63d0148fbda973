"""Heads: loss, predictions, metrics and signatures from logits, with TensorFlow's names.

``tf.estimator.BinaryClassHead`` and friends, for canned estimators and custom ``model_fn`` s:

.. code-block:: python

    head = est.BinaryClassHead(label_vocabulary=["no", "yes"], weight_column="w")

    def model_fn(features, labels, mode):
        logits = est.get_module("net", lambda: torch.nn.Linear(8, 1))(features["x"])
        return head.create_estimator_spec(features, mode, logits, labels, optimizer="Adagrad")

Differences from TensorFlow, all forced by PyTorch having no string tensors or by the
per-batch metric design: ``classes`` predictions are numpy ``str`` arrays (TF: ``bytes``
tensors), made in PREDICT mode only; exported ``classification`` signatures return class ids,
and ``predict`` signatures leave out the string predictions; ``metrics()`` returns an empty dict
that ``update_metrics()`` fills, and ``eval_metric_ops()`` gives one batch's metric ops.
"""

from torch_estimator.heads import losses
from torch_estimator.heads.binary_class_head import BinaryClassHead
from torch_estimator.heads.head import Head
from torch_estimator.heads.keys import MetricKeys, PredictionKeys
from torch_estimator.heads.losses import Reduction
from torch_estimator.heads.multi_class_head import MultiClassHead
from torch_estimator.heads.multi_head import MultiHead
from torch_estimator.heads.multi_label_head import MultiLabelHead
from torch_estimator.heads.regression_head import LogisticRegressionHead, PoissonRegressionHead, RegressionHead

__all__ = [
    "BinaryClassHead", "Head", "LogisticRegressionHead", "MetricKeys", "MultiClassHead", "MultiHead",
    "MultiLabelHead", "PoissonRegressionHead", "PredictionKeys", "Reduction", "RegressionHead", "losses",
]
