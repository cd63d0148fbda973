"""``train_and_evaluate`` in one process: training drives, evaluations follow a schedule.

``estimator.train`` is called once. Evaluations run inside it, on the resident model (no reload):

* TensorFlow's schedule: a ``CheckpointSaverListener`` evaluates after each checkpoint save but
  the one training started from, unless fewer than ``throttle_secs`` have passed since the
  previous evaluation;
* ``EvalSpec(every_n_steps=N)``: a hook evaluates at every global step that is a multiple of N;

and both evaluate once more at the end of training unless its last step was just evaluated.
Each evaluation is a :class:`~torch_estimator.training.evaluation.CheckpointEvaluator` call.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from torch_estimator.checkpoint.manager import CheckpointManager, checkpoint_step
from torch_estimator.distributed.cluster import TaskType
from torch_estimator.errors import message
from torch_estimator.estimator import Estimator
from torch_estimator.hooks import CheckpointSaverHook, CheckpointSaverListener, SessionRunArgs, SessionRunHook
from torch_estimator.training.cluster_tasks import run_evaluator_task, run_parameter_server, run_training_task
from torch_estimator.training.evaluation import CheckpointEvaluator, EvalOutcome
from torch_estimator.training.specs import EvalSpec, TrainSpec

logger = logging.getLogger("torch_estimator")

_monotonic = time.monotonic  # the throttle clock (a module attribute so tests can fake time)
_GLOBAL_STEP = SessionRunArgs("global_step")


def train_and_evaluate(estimator: Estimator, train_spec: TrainSpec, eval_spec: EvalSpec) -> tuple[dict, list]:
    """Trains, evaluating and exporting on a schedule; TensorFlow's ``tf.estimator.train_and_evaluate``.

    Trains to ``train_spec.max_steps`` with one ``estimator.train`` call. Evaluations (with
    ``eval_spec``'s input, steps, hooks and name) follow each checkpoint save except the one
    training starts from, at most one per ``eval_spec.throttle_secs`` ("Skip the current
    checkpoint eval due to throttle secs" is logged for the others); with
    ``eval_spec.every_n_steps`` they follow every N global steps instead. After each, the
    exporters run; an evaluation at ``max_steps`` is final (``is_the_final_export=True``).

    Whatever the timing, the end of training is always evaluated and exported, as final (also
    after early stopping, so a ``FinalExporter`` exports then, unlike TensorFlow's), and a
    short run never fails with TensorFlow's "There was no new checkpoint after the training".
    If training runs no step (``max_steps`` already reached), the latest checkpoint is evaluated.

    Early-stopping hooks (``est.experimental.stop_if_*_hook``) go in ``train_spec.hooks``; they
    read the results these evaluations log, and the final evaluation still follows a stop.

    Args:
        estimator: The Estimator to train.
        train_spec: A :class:`TrainSpec`.
        eval_spec: An :class:`EvalSpec`.

    In a cluster (``TF_CONFIG`` or torchrun with several processes) each task plays its role
    (:mod:`~torch_estimator.training.cluster_tasks`): chief and workers only train, the
    ``evaluator`` task evaluates each new checkpoint and exports, a ``ps`` task exits.

    Returns:
        ``(eval_metrics, export_results)`` of the last evaluation: its metrics dict and, per
        exporter, the export directory or None. Chief, worker and ps tasks of a cluster get
        ``(None, [])`` (TensorFlow returned None there).

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: checkpoints are disabled without ``every_n_steps``.

    Example:
        >>> import tempfile, torch, torch_estimator as est
        >>> from torch_estimator.summary.eval_log import read_eval_metrics
        >>> from torch_estimator.training import EvalSpec, TrainSpec, train_and_evaluate
        >>> def model_fn(features, labels, mode):
        ...     net = est.get_module("net", lambda: torch.nn.Linear(1, 1))
        ...     loss = torch.nn.functional.mse_loss(net(features), labels)
        ...     return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))
        >>> data = lambda: (torch.ones(4, 1), torch.zeros(4, 1))
        >>> config = est.RunConfig(save_checkpoints_steps=10, progress_bar=False)
        >>> estimator = est.Estimator(model_fn, tempfile.mkdtemp(), config)
        >>> metrics, exports = train_and_evaluate(estimator, TrainSpec(data, max_steps=30),
        ...                                       EvalSpec(data, steps=1, throttle_secs=0))
        >>> metrics["global_step"], exports
        (30, [])
        >>> sorted(read_eval_metrics(estimator.eval_dir()))
        [10, 20, 30]
    """
    _check_arguments(estimator, train_spec, eval_spec)
    config = estimator.config
    if config.task_type == TaskType.PS:
        return run_parameter_server()
    if config.task_type == TaskType.EVALUATOR:
        return run_evaluator_task(estimator, eval_spec, train_spec.max_steps)
    if config.cluster.world_size > 1:
        return run_training_task(estimator, train_spec)
    evaluator = CheckpointEvaluator(estimator, eval_spec, train_spec.max_steps)
    hooks, listeners = list(train_spec.hooks), list(train_spec.saving_listeners)
    if eval_spec.every_n_steps is not None:
        # First, so that early-stopping hooks see this step's result at this step.
        hooks.insert(0, _EvaluateEveryNSteps(estimator, evaluator, eval_spec.every_n_steps,
                                             write_checkpoints=bool(eval_spec.exporters)))
    else:
        _require_checkpoints(estimator, train_spec)
        latest = estimator.latest_checkpoint()
        start_step = checkpoint_step(latest) if latest else 0
        listeners.append(_EvaluateAfterSave(estimator, evaluator, eval_spec.throttle_secs, start_step))
    estimator.train(train_spec.input_fn, hooks=hooks, max_steps=train_spec.max_steps, saving_listeners=listeners)
    outcome: EvalOutcome | None = evaluator.last
    if outcome is None:  # no training step ran, so no hook or listener evaluated
        outcome = evaluator.evaluate(estimator.latest_checkpoint(), is_final=True)
    return outcome.metrics, outcome.export_results


class _EvaluateAfterSave(CheckpointSaverListener):
    """TensorFlow's schedule: evaluate after checkpoint saves, throttled, and at the end."""

    def __init__(self, estimator: Estimator, evaluator: CheckpointEvaluator, throttle_secs: float,
                 start_step: int) -> None:
        self._estimator = estimator
        self._evaluator = evaluator
        self._throttle_secs = throttle_secs
        self._start_step = start_step
        self._last_time: float | None = None

    def after_save(self, session: Any, global_step_value: int) -> None:
        if global_step_value == self._start_step:
            return  # the weights training starts from (TF skips this first save too)
        now = _monotonic()
        if self._last_time is not None and now - self._last_time < self._throttle_secs:
            logger.info("Skip the current checkpoint eval due to throttle secs (%s secs).", self._throttle_secs)
            return
        self._last_time = now  # from the start of the evaluation, as TF's timer
        self._evaluator.evaluate(self._estimator.latest_checkpoint())

    def end(self, session: Any, global_step_value: int) -> None:
        # CheckpointSaverHook.end has just saved the last step (when it was not saved already).
        self._evaluator.evaluate_final(self._estimator.latest_checkpoint(), global_step_value)


class _EvaluateEveryNSteps(SessionRunHook):
    """``EvalSpec(every_n_steps=N)``: evaluate the weights in memory at multiples of N, and at the end.

    With exporters, an evaluation whose step has no checkpoint writes one first (exports are
    made from checkpoints), without calling the saving listeners.
    """

    def __init__(self, estimator: Estimator, evaluator: CheckpointEvaluator, every_n_steps: int,
                 write_checkpoints: bool) -> None:
        self._estimator = estimator
        self._evaluator = evaluator
        self._every_n_steps = every_n_steps
        self._write_checkpoints = write_checkpoints

    def before_run(self, run_context: Any) -> SessionRunArgs:
        return _GLOBAL_STEP

    def after_run(self, run_context: Any, run_values: Any) -> None:
        step = run_values.results
        if step % self._every_n_steps == 0:
            self._evaluator.evaluate(self._checkpoint_for(run_context.session, step))

    def end(self, session: Any) -> None:
        step = session.global_step
        last = self._evaluator.last
        path = last.checkpoint_path if last is not None and last.global_step == step else None
        self._evaluator.evaluate_final(path or self._checkpoint_for(session, step), step)

    def _checkpoint_for(self, session: Any, step: int) -> str | None:
        latest = self._estimator.latest_checkpoint()
        if latest is not None and checkpoint_step(latest) == step:
            return latest
        if not self._write_checkpoints:
            return None  # evaluate() then uses the weights in memory
        config = self._estimator.config
        manager = CheckpointManager(self._estimator.model_dir, config.keep_checkpoint_max,
                                    config.keep_checkpoint_every_n_hours, is_chief=config.is_chief)
        path = manager.save(session.checkpoint_state(), step)
        # evaluate() then reads it back (the resident state does not know this save): the same
        # values, so training continues unchanged; the cost is one restore per evaluation.
        logger.info("Saving checkpoints for %d into %s (for the exporters of every_n_steps evaluations).", step, path)
        return path


def _check_arguments(estimator: Any, train_spec: Any, eval_spec: Any) -> None:
    for name, value, kind in (("estimator", estimator, Estimator), ("train_spec", train_spec, TrainSpec),
                              ("eval_spec", eval_spec, EvalSpec)):
        if not isinstance(value, kind):
            raise TypeError(message(f"{name} must be an est.{kind.__name__}", fix=f"Pass an est.{kind.__name__}",
                                    **{name: type(value).__name__}))


def _require_checkpoints(estimator: Estimator, train_spec: TrainSpec) -> None:
    config = estimator.config
    if config.save_checkpoints_steps or config.save_checkpoints_secs:
        return
    if any(isinstance(hook, CheckpointSaverHook) for hook in train_spec.hooks):
        return
    raise ValueError(message(
        "train_and_evaluate evaluates after checkpoint saves, but checkpoints are disabled",
        expected="RunConfig(save_checkpoints_steps=...) or save_checkpoints_secs, or EvalSpec(every_n_steps=...)",
        fix="Enable checkpoints, or evaluate every N steps with EvalSpec(every_n_steps=N)",
        save_checkpoints_steps=config.save_checkpoints_steps, save_checkpoints_secs=config.save_checkpoints_secs))
