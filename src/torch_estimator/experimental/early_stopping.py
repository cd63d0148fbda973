"""Early stopping: training hooks that stop when the evaluation results say so.

TensorFlow's ``tf.estimator.experimental.stop_if_*`` hooks, with its arguments and semantics:
the decision is taken from the results of past evaluations, and "steps without improvement"
are counted in training global steps, not in evaluations. The results are read from
``eval_dir/eval_results.jsonl``, the log ``Estimator.evaluate`` appends to (not from event
files), so evaluations made in this process by ``train_and_evaluate`` or
``InMemoryEvaluatorHook`` count as soon as they are made, and a restarted job (a new process)
takes the same decision from the same log.

Put the hook in ``TrainSpec(hooks=[...])``; ``train_and_evaluate`` still evaluates (and
exports, as final) the step training stopped at.

Example:
    >>> import tempfile, torch, torch_estimator as est
    >>> from torch_estimator.experimental import stop_if_no_decrease_hook
    >>> def model_fn(features, labels, mode):
    ...     net = est.get_module("net", lambda: torch.nn.Linear(1, 1))
    ...     loss = torch.nn.functional.mse_loss(net(features), labels)
    ...     return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))
    >>> estimator = est.Estimator(model_fn, tempfile.mkdtemp(), est.RunConfig(progress_bar=False))
    >>> hook = stop_if_no_decrease_hook(estimator, "loss", max_steps_without_decrease=1000,
    ...                                 run_every_steps=100)
"""

from __future__ import annotations

import logging
import numbers
import operator
from collections.abc import Callable
from typing import Any

from torch_estimator.distributed.replication import agreed_timer
from torch_estimator.errors import ReadableKeyError, message
from torch_estimator.estimator import Estimator
from torch_estimator.hooks import SecondOrStepTimer, SessionRunArgs, SessionRunHook
from torch_estimator.summary.eval_log import read_eval_metrics

logger = logging.getLogger("torch_estimator")

_GLOBAL_STEP = SessionRunArgs("global_step")


class _DefaultSeconds(int):
    """TensorFlow's default ``run_every_secs=60``, told apart from an explicit 60.

    TensorFlow rejected ``run_every_steps=N`` unless ``run_every_secs=None`` was passed too;
    here giving ``run_every_steps`` alone replaces the default seconds.
    """

    def __repr__(self) -> str:
        return "60"


_EVERY_60_SECS = _DefaultSeconds(60)


def make_early_stopping_hook(estimator: Estimator, should_stop_fn: Callable[[], bool],
                             run_every_secs: float | None = _EVERY_60_SECS,
                             run_every_steps: int | None = None) -> SessionRunHook:
    """A hook that stops training when ``should_stop_fn()`` returns True.

    ``should_stop_fn`` is called after the first step of each ``train`` call, then every
    ``run_every_secs`` seconds or ``run_every_steps`` steps (exactly one; giving
    ``run_every_steps`` alone replaces the 60 s default).

    Args:
        estimator: The Estimator being trained.
        should_stop_fn: Zero-argument callable; True stops training after the current step.
        run_every_secs: Seconds between two calls of ``should_stop_fn``.
        run_every_steps: Steps between two calls of ``should_stop_fn``.

    Returns:
        A ``SessionRunHook`` for ``estimator.train`` or ``TrainSpec(hooks=...)``.

    Raises:
        TypeError: ``estimator`` is not an Estimator, or ``should_stop_fn`` is not callable.
        ValueError: both or neither of ``run_every_secs`` and ``run_every_steps`` are given.

    With several training processes, every process checks at the same steps and all stop when
    the predicate is True in any of them (they read the same evaluation results in ``model_dir``).

    Example:
        >>> import tempfile, torch_estimator as est
        >>> estimator = est.Estimator(lambda features, labels, mode: None, tempfile.mkdtemp())
        >>> hook = make_early_stopping_hook(estimator, lambda: False, run_every_steps=10)
    """
    if not isinstance(estimator, Estimator):
        raise TypeError(message("estimator must be an est.Estimator", fix="Pass the Estimator being trained",
                                estimator=type(estimator).__name__))
    if not callable(should_stop_fn):
        raise TypeError(message("should_stop_fn must be callable",
                                expected="a function of no argument returning a bool",
                                fix="Pass the function itself", should_stop_fn=should_stop_fn))
    timer = _timer(run_every_secs, run_every_steps)
    replication = estimator._replication  # None in one process
    if replication is None:
        return _StopOnPredicateHook(should_stop_fn, timer)
    # Several processes stop at the same step: they check at the same steps and stop if any says so.
    every_secs, every_steps = (None, run_every_steps) if run_every_steps is not None else (run_every_secs, None)
    return _StopOnPredicateHook(should_stop_fn, agreed_timer(replication, every_secs, every_steps), replication.any)


def stop_if_higher_hook(estimator: Estimator, metric_name: str, threshold: float, eval_dir: str | None = None,
                        min_steps: int = 0, run_every_secs: float | None = _EVERY_60_SECS,
                        run_every_steps: int | None = None) -> SessionRunHook:
    """Stops training once an evaluation at step >= ``min_steps`` has ``metric_name`` > ``threshold``.

    Args:
        estimator: The Estimator being trained.
        metric_name: A key of the evaluation results (``'loss'``, an ``eval_metric_ops`` name).
        threshold: The value to exceed.
        eval_dir: Where the evaluations are logged; default ``estimator.eval_dir()`` (pass
            ``estimator.eval_dir(name)`` for ``EvalSpec(name=...)``).
        min_steps: Evaluations of earlier global steps are ignored.
        run_every_secs: Seconds between two checks.
        run_every_steps: Steps between two checks (replaces the seconds default).

    Raises:
        ValueError: invalid arguments (see :func:`make_early_stopping_hook`).
        KeyError: at a check, when an evaluation lacks ``metric_name``.
    """
    return _threshold_hook(estimator, metric_name, threshold, operator.gt, "greater than", eval_dir, min_steps,
                           run_every_secs, run_every_steps)


def stop_if_lower_hook(estimator: Estimator, metric_name: str, threshold: float, eval_dir: str | None = None,
                       min_steps: int = 0, run_every_secs: float | None = _EVERY_60_SECS,
                       run_every_steps: int | None = None) -> SessionRunHook:
    """Stops training once an evaluation at step >= ``min_steps`` has ``metric_name`` < ``threshold``.

    Arguments as :func:`stop_if_higher_hook`.
    """
    return _threshold_hook(estimator, metric_name, threshold, operator.lt, "less than", eval_dir, min_steps,
                           run_every_secs, run_every_steps)


def stop_if_no_increase_hook(estimator: Estimator, metric_name: str, max_steps_without_increase: int,
                             eval_dir: str | None = None, min_steps: int = 0,
                             run_every_secs: float | None = _EVERY_60_SECS,
                             run_every_steps: int | None = None) -> SessionRunHook:
    """Stops training when ``metric_name`` has not increased for ``max_steps_without_increase`` steps.

    Counted in training global steps between the best evaluation (the first one of the best
    value) and a later evaluation, over evaluations at steps >= ``min_steps``.

    Arguments as :func:`stop_if_higher_hook`, with ``max_steps_without_increase`` (> 0).
    """
    return _no_improvement_hook(estimator, metric_name, max_steps_without_increase, operator.gt, "increase",
                                eval_dir, min_steps, run_every_secs, run_every_steps)


def stop_if_no_decrease_hook(estimator: Estimator, metric_name: str, max_steps_without_decrease: int,
                             eval_dir: str | None = None, min_steps: int = 0,
                             run_every_secs: float | None = _EVERY_60_SECS,
                             run_every_steps: int | None = None) -> SessionRunHook:
    """Stops training when ``metric_name`` has not decreased for ``max_steps_without_decrease`` steps.

    Example: with evaluations ``{100: 0.5, 200: 0.4, 300: 0.41, 400: 0.42}`` and
    ``max_steps_without_decrease=200``, the best is at step 200 and training stops once the
    evaluation at step 400 is logged (400 - 200 >= 200).

    Arguments as :func:`stop_if_no_increase_hook`.
    """
    return _no_improvement_hook(estimator, metric_name, max_steps_without_decrease, operator.lt, "decrease",
                                eval_dir, min_steps, run_every_secs, run_every_steps)


class _StopOnPredicateHook(SessionRunHook):
    """Calls the predicate when the timer fires and requests a stop when it says so."""

    def __init__(self, should_stop_fn: Callable[[], bool], timer: SecondOrStepTimer,
                 agree: Callable[[bool], bool] | None = None) -> None:
        self._should_stop_fn = should_stop_fn
        self._timer = timer
        self._agree = agree  # several processes: True when any process's predicate says stop

    def begin(self) -> None:
        self._timer.reset()  # a new train() call checks after its first step (a restart, too)

    def before_run(self, run_context: Any) -> SessionRunArgs:
        return _GLOBAL_STEP

    def after_run(self, run_context: Any, run_values: Any) -> None:
        step = run_values.results
        if not self._timer.should_trigger_for_step(step):
            return
        self._timer.update_last_triggered_step(step)
        stop = self._should_stop_fn()
        if self._agree is not None:
            stop = self._agree(stop)
        if stop:
            logger.info("Requesting early stopping at global step %d", step)
            run_context.request_stop()


def _threshold_hook(estimator: Estimator, metric_name: str, threshold: Any, crosses: Callable, words: str,
                    eval_dir: str | None, min_steps: Any, run_every_secs: Any, run_every_steps: Any) -> SessionRunHook:
    _check_metric_arguments(metric_name, min_steps, threshold=threshold)
    eval_dir = eval_dir or _eval_dir(estimator)

    def should_stop() -> bool:
        for step, metrics in read_eval_metrics(eval_dir).items():
            if step < min_steps:
                continue
            value = _metric(metrics, metric_name, step, eval_dir)
            if crosses(value, threshold):
                logger.info('At step %s, metric "%s" has value %s which is %s the configured threshold (%s) for '
                            "early stopping.", step, metric_name, value, words, threshold)
                return True
        return False

    return make_early_stopping_hook(estimator, should_stop, run_every_secs, run_every_steps)


def _no_improvement_hook(estimator: Estimator, metric_name: str, max_steps: Any, better: Callable, words: str,
                         eval_dir: str | None, min_steps: Any, run_every_secs: Any,
                         run_every_steps: Any) -> SessionRunHook:
    _check_metric_arguments(metric_name, min_steps, **{f"max_steps_without_{words}": max_steps})
    eval_dir = eval_dir or _eval_dir(estimator)

    def should_stop() -> bool:
        best_value = best_step = None
        for step, metrics in read_eval_metrics(eval_dir).items():
            if step < min_steps:
                continue
            value = _metric(metrics, metric_name, step, eval_dir)
            if best_value is None or better(value, best_value):
                best_value, best_step = value, step
            if step - best_step >= max_steps:
                logger.info('No %s in metric "%s" for %s steps, which is greater than or equal to max steps (%s) '
                            "configured for early stopping.", words, metric_name, step - best_step, max_steps)
                return True
        return False

    return make_early_stopping_hook(estimator, should_stop, run_every_secs, run_every_steps)


def _eval_dir(estimator: Any) -> str:
    if not isinstance(estimator, Estimator):  # before eval_dir() fails with an unrelated message
        raise TypeError(message("estimator must be an est.Estimator", fix="Pass the Estimator being trained",
                                estimator=type(estimator).__name__))
    return estimator.eval_dir()


def _metric(metrics: dict[str, Any], metric_name: str, step: int, eval_dir: str) -> Any:
    if metric_name not in metrics:
        raise ReadableKeyError(message(
            f"Early stopping watches metric {metric_name!r}, which the evaluation at step {step} does not report",
            expected=f"one of {sorted(metrics)}", fix="Pass a metric name that evaluate() returns",
            metric_name=metric_name, eval_dir=eval_dir))
    return metrics[metric_name]


def _check_metric_arguments(metric_name: Any, min_steps: Any, **numbers_given: Any) -> None:
    problems = []
    if not isinstance(metric_name, str) or not metric_name:
        problems.append(f"metric_name must be a non-empty string. Received: metric_name={metric_name!r}.")
    if not isinstance(min_steps, int) or isinstance(min_steps, bool) or min_steps < 0:
        problems.append(f"min_steps must be an int >= 0. Received: min_steps={min_steps!r}.")
    for name, value in numbers_given.items():
        positive = name.startswith("max_steps")
        if (not isinstance(value, numbers.Real) or isinstance(value, bool)) or (positive and value <= 0):
            kind = "a number > 0 (training steps)" if positive else "a number"
            problems.append(f"{name} must be {kind}. Received: {name}={value!r}.")
    if problems:
        raise ValueError("Invalid early-stopping arguments:\n  - " + "\n  - ".join(problems))


def _timer(run_every_secs: Any, run_every_steps: Any) -> SecondOrStepTimer:
    if run_every_steps is not None and run_every_secs is _EVERY_60_SECS:
        run_every_secs = None
    if (run_every_secs is None) == (run_every_steps is None):
        raise ValueError(message("Exactly one of run_every_secs and run_every_steps must be set",
                                 fix="Pass run_every_steps=N (or run_every_secs=S) alone",
                                 run_every_secs=run_every_secs, run_every_steps=run_every_steps))
    if run_every_secs is not None and (not isinstance(run_every_secs, numbers.Real) or run_every_secs <= 0):
        raise ValueError(message("run_every_secs must be a number > 0", run_every_secs=run_every_secs))
    if run_every_steps is not None and (not isinstance(run_every_steps, int) or isinstance(run_every_steps, bool)
                                        or run_every_steps <= 0):
        raise ValueError(message("run_every_steps must be an int > 0", run_every_steps=run_every_steps))
    return SecondOrStepTimer(every_secs=run_every_secs, every_steps=run_every_steps)
