"""``train_and_evaluate`` for the tasks of a cluster (TensorFlow's distributed roles).

* chief and workers train (data-parallel, one ``estimator.train`` call each) and do not evaluate:
  evaluation is the evaluator's job, as in TensorFlow;
* the ``evaluator`` task (not part of the training processes) evaluates each new checkpoint with
  the ``EvalSpec``, runs its exporters, and exits after the checkpoint at ``max_steps``;
* a ``ps`` task exits at once: data-parallel all-reduce replaces parameter servers.

The evaluator holds a lease on the checkpoint it reads, so the chief's retention
(``keep_checkpoint_max``) does not delete it mid-evaluation.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from torch_estimator.checkpoint.lease import checkpoint_lease
from torch_estimator.errors import CheckpointError
from torch_estimator.training.evaluation import CheckpointEvaluator

logger = logging.getLogger("torch_estimator")

POLL_SECS = 0.5  # how often the evaluator looks for a new checkpoint (it reads one small index file)
_sleep = time.sleep  # module attributes so tests can fake time
_monotonic = time.monotonic


def run_parameter_server() -> tuple[None, list]:
    """A ``ps`` task: nothing to serve; says so and returns, so the process exits cleanly."""
    logger.warning("This is a 'ps' task. Parameter servers are not needed: the training processes average "
                   "their gradients with all-reduce (data parallelism). This process exits now; remove the "
                   "'ps' tasks from the cluster.")
    return None, []


def run_training_task(estimator: Any, train_spec: Any) -> tuple[None, list]:
    """A chief or worker of a cluster: trains to ``max_steps`` with the others; no evaluation."""
    estimator.train(train_spec.input_fn, hooks=list(train_spec.hooks), max_steps=train_spec.max_steps,
                    saving_listeners=list(train_spec.saving_listeners))
    return None, []


def run_evaluator_task(estimator: Any, eval_spec: Any, max_steps: int | None) -> tuple[dict, list]:
    """The evaluator: evaluates each new checkpoint (at most one per ``throttle_secs``) and exports.

    Returns:
        ``(eval_metrics, export_results)`` of the final evaluation, the first at or after
        ``max_steps`` (with ``max_steps=None`` it never ends, as TensorFlow's).
    """
    if max_steps is None:
        logger.warning("The evaluator task runs until it is stopped: TrainSpec.max_steps is None.")
    evaluator = CheckpointEvaluator(estimator, eval_spec, max_steps)
    _sleep(eval_spec.start_delay_secs)
    while True:
        started = _monotonic()
        outcome = _evaluate_new_checkpoint(estimator, evaluator)
        if outcome is not None and outcome.is_final:
            return outcome.metrics, outcome.export_results
        wait = POLL_SECS if outcome is None else eval_spec.throttle_secs - (_monotonic() - started)
        _sleep(max(wait, POLL_SECS))


def _evaluate_new_checkpoint(estimator: Any, evaluator: CheckpointEvaluator) -> Any:
    path = estimator.latest_checkpoint()
    if path is None or evaluator.has_evaluated(path):
        return None
    with checkpoint_lease(path):
        try:
            return evaluator.evaluate(path)
        except CheckpointError as error:  # deleted or replaced before the lease was taken: take the next
            logger.info("Checkpoint %s went away before it could be evaluated (%s).", path, error)
            return None
