"""``train_and_evaluate`` with ``TrainSpec`` and ``EvalSpec`` (TensorFlow's names and semantics).

* ``specs``: :class:`TrainSpec`, :class:`EvalSpec` (frozen, validated).
* ``evaluation``: :class:`CheckpointEvaluator`, the evaluation of one checkpoint plus its
  exports, shared by every schedule and by the evaluator task.
* ``local``: :func:`train_and_evaluate` in one process.
* ``cluster_tasks``: the roles of a cluster's tasks (chief/worker train, evaluator, ps).
"""

from torch_estimator.training.evaluation import CheckpointEvaluator, EvalOutcome
from torch_estimator.training.local import train_and_evaluate
from torch_estimator.training.specs import EvalSpec, InvalidSpecError, TrainSpec

__all__ = ["CheckpointEvaluator", "EvalOutcome", "EvalSpec", "InvalidSpecError", "TrainSpec", "train_and_evaluate"]
