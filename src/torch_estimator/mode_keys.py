"""The three modes a ``model_fn`` is called in, with TensorFlow's string values."""

from __future__ import annotations


class ModeKeys:
    """Standard names for model modes, equal to TensorFlow's (``tf.estimator.ModeKeys``).

    * ``TRAIN``: training and evaluation of the loss on training batches.
    * ``EVAL``: evaluation of the loss and metrics.
    * ``PREDICT``: inference; ``'infer'`` as in TensorFlow.
    """

    TRAIN = "train"
    EVAL = "eval"
    PREDICT = "infer"

    ALL = (TRAIN, EVAL, PREDICT)
