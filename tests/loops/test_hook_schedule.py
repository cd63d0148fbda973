"""The hook runner's schedule: hooks that say when they are next due are skipped in between."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import torch_estimator as est
from torch_estimator.loops.hook_runner import HookRunner, StepOutputs
from torch_estimator.loops.train import train_loop
from torch_estimator.state import TrainState


def model_fn(features, labels, mode):
    net = est.get_module("net", lambda: torch.nn.Linear(3, 1))
    loss = torch.nn.functional.mse_loss(net(features["x"]), labels)
    return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))


def train(hooks, steps):
    batches = itertools.repeat(({"x": torch.ones(4, 3)}, torch.ones(4, 1)))
    return train_loop(TrainState(), batches, model_fn, hooks, device=torch.device("cpu"), last_step=steps)


class Recorder(est.SessionRunHook):
    """Records the global step of each before_run/after_run; optionally due every ``period`` steps."""

    def __init__(self, name, calls, period=None, seconds=math.inf):
        self.name, self.calls, self.period, self.seconds = name, calls, period, seconds
        if period is not None:
            # Due at multiples of period: the first one at or after the step about to run.
            self._wake_at = lambda step: (-(-step // self.period) * self.period, self.seconds)

    def before_run(self, run_context):
        self.calls.append((self.name, "before", run_context.session.global_step))
        return est.SessionRunArgs("loss")

    def after_run(self, run_context, run_values):
        assert isinstance(run_values.results, float)
        self.calls.append((self.name, "after", run_context.session.global_step))


def test_scheduled_hooks_run_only_on_their_steps_and_in_order_with_the_others():
    calls = []
    assert train([Recorder("sched", calls, period=4), Recorder("plain", calls)], steps=10) == 10
    befores = [(name, step) for name, kind, step in calls if kind == "before"]
    # The first step runs every hook (the session starts); then "sched" is due at steps 4 and 8.
    assert [step for name, step in befores if name == "sched"] == [0, 4, 8]
    assert [step for name, step in befores if name == "plain"] == list(range(10))
    # Whenever both run, they run in the order given, before_run and after_run paired.
    assert calls[:4] == [("sched", "before", 0), ("plain", "before", 0), ("sched", "after", 1), ("plain", "after", 1)]
    assert calls.index(("sched", "before", 4)) + 1 == calls.index(("plain", "before", 4))


def test_with_only_scheduled_hooks_the_loop_skips_the_runner_between_due_steps():
    calls = []
    train([Recorder("a", calls, period=5), Recorder("b", calls, period=3)], steps=12)
    # Both run whenever either is due (hooks are called in order on due steps).
    assert sorted({step for _, kind, step in calls if kind == "before"}) == [0, 3, 5, 6, 9, 10]


def test_a_hook_due_by_time_runs_when_its_time_has_come():
    calls = []
    train([Recorder("now", calls, period=1000, seconds=0.0)], steps=5)  # time 0 has always passed
    assert [step for _, kind, step in calls if kind == "before"] == [0, 1, 2, 3, 4]
    calls.clear()
    train([Recorder("never", calls, period=1000, seconds=math.inf)], steps=5)
    assert [step for _, kind, step in calls if kind == "before"] == [0]


def test_runner_without_a_step_runs_every_hook():
    """evaluate and predict call before_run() without a step: no schedule applies."""
    calls = []
    hook = Recorder("sched", calls, period=100)
    runner = HookRunner([hook], session=TrainState())
    runner.begin()
    runner.create_session()
    for step in range(3):
        runner.before_run()
        runner.after_run(StepOutputs({}, torch.tensor(1.0), step + 1, None))
    assert [step for _, kind, step in calls if kind == "before"] == [0, 0, 0]


def test_default_timers_say_when_they_are_next_due():
    steps = est.SecondOrStepTimer(every_steps=10)
    assert steps.next_trigger(0) == (-math.inf, -math.inf)  # never triggered: due now
    steps.update_last_triggered_step(5)
    assert steps.next_trigger(6) == (15, math.inf)
    assert not any(steps.should_trigger_for_step(s) for s in range(6, 15)) and steps.should_trigger_for_step(15)
    seconds = est.SecondOrStepTimer(every_secs=30)
    seconds.update_last_triggered_step(3)
    step, deadline = seconds.next_trigger(4)
    assert step == math.inf and deadline == pytest.approx(seconds._last_time + 30)


def test_the_agreed_timer_wakes_every_rank_on_the_agreeing_steps():
    from torch_estimator.distributed.replication import AGREE_EVERY_STEPS, agreed_timer

    class OneRank:
        def any(self, flag):
            return flag

    timer = agreed_timer(OneRank(), every_secs=600, every_steps=None)
    assert timer.next_trigger(3) == (-math.inf, -math.inf)
    timer.update_last_triggered_step(3)
    assert timer.next_trigger(4) == (AGREE_EVERY_STEPS, math.inf)
    assert timer.next_trigger(AGREE_EVERY_STEPS + 1) == (2 * AGREE_EVERY_STEPS, math.inf)
