"""``est.experimental``: early stopping and in-memory evaluation (TensorFlow's experimental hooks).

* :func:`stop_if_higher_hook`, :func:`stop_if_lower_hook`, :func:`stop_if_no_increase_hook`,
  :func:`stop_if_no_decrease_hook`, :func:`make_early_stopping_hook`: stop training from the
  evaluation results, read in process from the evaluation log (restart-safe).
* :class:`InMemoryEvaluatorHook`: evaluate every N training iterations without a checkpoint.
* :func:`read_eval_metrics`: global step -> metrics of every logged evaluation of an eval dir.
"""

from torch_estimator.experimental.early_stopping import (
    make_early_stopping_hook,
    stop_if_higher_hook,
    stop_if_lower_hook,
    stop_if_no_decrease_hook,
    stop_if_no_increase_hook,
)
from torch_estimator.experimental.in_memory_evaluator import InMemoryEvaluatorHook
from torch_estimator.summary.eval_log import read_eval_metrics

__all__ = [
    "InMemoryEvaluatorHook", "make_early_stopping_hook", "read_eval_metrics", "stop_if_higher_hook",
    "stop_if_lower_hook", "stop_if_no_decrease_hook", "stop_if_no_increase_hook",
]
