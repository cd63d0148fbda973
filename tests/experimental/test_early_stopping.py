"""Early-stopping hooks: TensorFlow's decisions, from the evaluation log, across restarts."""

from __future__ import annotations

import pytest

import torch_estimator as est
from torch_estimator.distributed.cluster import ClusterInfo
from torch_estimator.experimental import (
    make_early_stopping_hook,
    read_eval_metrics,
    stop_if_higher_hook,
    stop_if_lower_hook,
    stop_if_no_decrease_hook,
    stop_if_no_increase_hook,
)
from torch_estimator.summary.eval_log import append_eval_result
from torch_estimator.training import EvalSpec, TrainSpec, train_and_evaluate

from .conftest import checkpoint_steps, plateau_model_fn


def run(estimator, hook_factory, train_input, eval_input, max_steps=200):
    """train_and_evaluate evaluating every 10 steps; the hook checks after every step."""
    hook = hook_factory(estimator)
    metrics, _ = train_and_evaluate(estimator, TrainSpec(train_input, max_steps=max_steps, hooks=[hook]),
                                    EvalSpec(eval_input, steps=1, throttle_secs=0))
    return metrics


# score = min(step, 50): evaluations 10..50 improve it, then it plateaus.
@pytest.mark.parametrize("hook_factory, stop_step", [
    (lambda e: stop_if_no_increase_hook(e, "score", 30, run_every_steps=1), 80),  # best at 50, 80 - 50 >= 30
    (lambda e: stop_if_no_decrease_hook(e, "neg_score", 30, run_every_steps=1), 80),
    (lambda e: stop_if_no_decrease_hook(e, "neg_score", 30, min_steps=60, run_every_steps=1), 90),  # best at 60
    (lambda e: stop_if_higher_hook(e, "score", 25, run_every_steps=1), 30),  # first score > 25
    (lambda e: stop_if_lower_hook(e, "neg_score", -25, run_every_steps=1), 30),
    (lambda e: stop_if_higher_hook(e, "score", 5, min_steps=40, run_every_steps=1), 40),
    (lambda e: stop_if_higher_hook(e, "score", 1000, run_every_steps=1), 120),  # never: max_steps
], ids=["no-increase", "no-decrease", "no-decrease-min-steps", "higher", "lower", "higher-min-steps", "never"])
def test_training_stops_at_the_step_tensorflow_would(make_estimator, train_input, eval_input, hook_factory,
                                                     stop_step):
    estimator = make_estimator(plateau_model_fn, save_checkpoints_steps=10)
    metrics = run(estimator, hook_factory, train_input, eval_input, max_steps=120)
    assert metrics["global_step"] == stop_step
    assert checkpoint_steps(estimator.model_dir)[-1] == stop_step
    # The stop follows the evaluation that decided it, which is also the final one.
    assert list(read_eval_metrics(estimator.eval_dir()))[-1] == stop_step


def test_a_restarted_job_takes_the_same_decision_from_the_log(make_estimator, train_input, eval_input):
    def hook(e):
        return stop_if_no_increase_hook(e, "score", 30, run_every_steps=1)

    first = make_estimator(plateau_model_fn, save_checkpoints_steps=10)
    assert run(first, hook, train_input, eval_input, max_steps=70)["global_step"] == 70  # 70 - 50 < 30
    # A new process: new Estimator, new hook. Only the log knows the best was at step 50.
    restarted = make_estimator(plateau_model_fn, save_checkpoints_steps=10)
    assert run(restarted, hook, train_input, eval_input)["global_step"] == 80


def test_a_restart_after_the_stop_stops_again_after_one_step(make_estimator, train_input, eval_input):
    def hook(e):
        return stop_if_higher_hook(e, "score", 25, run_every_steps=1)

    run(make_estimator(plateau_model_fn, save_checkpoints_steps=10), hook, train_input, eval_input)
    restarted = make_estimator(plateau_model_fn, save_checkpoints_steps=10)
    assert run(restarted, hook, train_input, eval_input)["global_step"] == 31  # checked after the first step


def test_hooks_count_global_steps_not_evaluations(make_estimator, tmp_path, train_input):
    estimator = make_estimator()
    eval_dir = str(tmp_path / "logged")
    for step, value in ((100, 0.5), (200, 0.4), (300, 0.41), (350, 0.42)):
        append_eval_result(eval_dir, {"loss": value, "global_step": step}, None)
    keep_going = stop_if_no_decrease_hook(estimator, "loss", 200, eval_dir=eval_dir, run_every_steps=1)
    estimator.train(train_input, hooks=[keep_going], max_steps=5)
    assert estimator.latest_checkpoint().endswith("model.ckpt-5")  # 350 - 200 < 200 steps
    append_eval_result(eval_dir, {"loss": 0.43, "global_step": 400}, None)
    stop = stop_if_no_decrease_hook(estimator, "loss", 200, eval_dir=eval_dir, run_every_steps=1)
    estimator.train(train_input, hooks=[stop], max_steps=50)
    assert estimator.latest_checkpoint().endswith("model.ckpt-6")  # 400 - 200 >= 200: stop at once


def test_checks_follow_run_every_steps(make_estimator, train_input):
    estimator = make_estimator()
    checked_at = []

    def should_stop():
        checked_at.append(len(checked_at))
        return False

    estimator.train(train_input, hooks=[make_early_stopping_hook(estimator, should_stop, run_every_steps=4)],
                    max_steps=10)
    assert len(checked_at) == 3  # after steps 1, 5 and 9


def test_a_missing_metric_is_a_clear_error(make_estimator, train_input, tmp_path):
    estimator = make_estimator()
    append_eval_result(estimator.eval_dir(), {"loss": 0.5, "global_step": 1}, None)
    hook = stop_if_higher_hook(estimator, "accuracy", 0.9, run_every_steps=1)
    with pytest.raises(KeyError) as info:
        estimator.train(train_input, hooks=[hook], max_steps=3)
    assert str(info.value) == (
        "Early stopping watches metric 'accuracy', which the evaluation at step 1 does not report. Expected one of "
        f"['global_step', 'loss']. Received: metric_name='accuracy', eval_dir={estimator.eval_dir()!r}. Pass a "
        "metric name that evaluate() returns.")


def test_argument_errors(make_estimator):
    estimator = make_estimator()
    with pytest.raises(TypeError) as info:
        make_early_stopping_hook(estimator, should_stop_fn=True)
    assert str(info.value) == ("should_stop_fn must be callable. Expected a function of no argument returning a "
                               "bool. Received: should_stop_fn=True. Pass the function itself.")
    with pytest.raises(TypeError) as info:
        stop_if_lower_hook("estimator", "loss", 0.1)
    assert str(info.value) == ("estimator must be an est.Estimator. Received: estimator='str'. "
                               "Pass the Estimator being trained.")
    with pytest.raises(ValueError) as info:
        make_early_stopping_hook(estimator, lambda: False, run_every_secs=10, run_every_steps=5)
    assert str(info.value) == ("Exactly one of run_every_secs and run_every_steps must be set. Received: "
                               "run_every_secs=10, run_every_steps=5. Pass run_every_steps=N (or run_every_secs=S) "
                               "alone.")
    with pytest.raises(ValueError, match=r"^Exactly one of run_every_secs and run_every_steps must be set"):
        make_early_stopping_hook(estimator, lambda: False, run_every_secs=None)
    with pytest.raises(ValueError) as info:
        make_early_stopping_hook(estimator, lambda: False, run_every_secs=-5)
    assert str(info.value) == "run_every_secs must be a number > 0. Received: run_every_secs=-5."
    with pytest.raises(ValueError, match=r"^run_every_steps must be an int > 0. Received: run_every_steps=0"):
        make_early_stopping_hook(estimator, lambda: False, run_every_steps=0)
    with pytest.raises(ValueError) as info:
        stop_if_no_decrease_hook(estimator, 3, max_steps_without_decrease=0, min_steps=-1)
    assert str(info.value) == (
        "Invalid early-stopping arguments:\n"
        "  - metric_name must be a non-empty string. Received: metric_name=3.\n"
        "  - min_steps must be an int >= 0. Received: min_steps=-1.\n"
        "  - max_steps_without_decrease must be a number > 0 (training steps). Received: max_steps_without_decrease=0.")
    with pytest.raises(ValueError, match=r"threshold must be a number. Received: threshold='high'"):
        stop_if_higher_hook(estimator, "loss", "high")


class OtherRanks:
    """Stands in for the other training processes: one of them has decided to stop."""

    def __init__(self) -> None:
        self.asked: list[bool] = []

    def any(self, value: bool) -> bool:
        self.asked.append(value)
        return True


def test_several_training_processes_stop_together_when_any_of_them_says_so(make_estimator):
    estimator = make_estimator(cluster=ClusterInfo(task_type="chief", num_worker_replicas=2, world_size=2))
    others = OtherRanks()
    estimator._replication = others  # the hook must share its decision through the process group
    hook = make_early_stopping_hook(estimator, lambda: False, run_every_steps=2)
    context = est.SessionRunContext(original_args=None, session=None)
    hook.begin()
    for step in (1, 2, 3):
        hook.after_run(context, est.SessionRunValues(step, None, None))
        if context.stop_requested:
            break
    assert others.asked == [False] and step == 1  # checked at the first step: this process said no
    assert context.stop_requested


def test_run_every_steps_alone_replaces_the_default_seconds(make_estimator):
    hook = make_early_stopping_hook(make_estimator(), lambda: False, run_every_steps=7)
    assert isinstance(hook, est.SessionRunHook)  # TensorFlow required run_every_secs=None as well
