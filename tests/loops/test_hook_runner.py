"""HookRunner's schedule: hooks with ``wake_step`` run only on the steps they ask for."""

from __future__ import annotations

import logging
import types

import torch_estimator as est
from torch_estimator.loops.hook_runner import HookRunner, StepOutputs


class EveryThird(est.SessionRunHook):
    """Asks to see the runs of global steps 2, 5, 8, ...; records the steps it saw."""

    def __init__(self):
        self.seen = []

    def before_run(self, run_context):
        self.seen.append(run_context.session.global_step)
        return est.SessionRunArgs("global_step")

    def after_run(self, run_context, run_values):
        assert run_values.results == run_context.session.global_step  # paired with its before_run

    def wake_step(self, global_step):
        return global_step + (2 - global_step % 3)


class Always(est.SessionRunHook):
    def __init__(self):
        self.calls = 0

    def before_run(self, run_context):
        self.calls += 1


def run_steps(runner: HookRunner, session, steps: int) -> None:
    runner.begin()
    runner.create_session()
    for _ in range(steps):
        runner.before_run()
        session.global_step += 1
        runner.after_run(StepOutputs(None, None, session.global_step, None))
    runner.end()


def test_scheduled_hooks_run_on_their_steps_and_others_on_every_step():
    session = types.SimpleNamespace(global_step=0)
    scheduled, always = EveryThird(), Always()
    run_steps(HookRunner([scheduled, always], session), session, 10)
    assert scheduled.seen == [2, 5, 8]
    assert always.calls == 10


def test_a_wake_step_of_none_means_every_step():
    session = types.SimpleNamespace(global_step=0)
    hook = EveryThird()
    hook.wake_step = lambda step: None
    run_steps(HookRunner([hook], session), session, 4)
    assert hook.seen == [0, 1, 2, 3]


def test_default_hooks_log_count_and_save_on_the_same_steps_as_unscheduled(make_estimator, train_input, caplog,
                                                                           tmp_path):
    """The default hooks are scheduled; lines, summaries and checkpoints land where they did when
    every hook ran every step (the steps below were recorded before the schedule existed), and
    the final loss is the last step's."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model_dir = tmp_path / "model"
    estimator = make_estimator(model_dir=str(model_dir), log_step_count_steps=10, save_summary_steps=10,
                               save_checkpoints_steps=20)
    losses = []

    class LossRecorder(est.SessionRunHook):
        def before_run(self, run_context):
            return est.SessionRunArgs("loss")

        def after_run(self, run_context, run_values):
            losses.append(run_values.results)

    with caplog.at_level(logging.INFO, logger="torch_estimator"):
        estimator.train(train_input, steps=45, hooks=[LossRecorder()])
    lines = [record.getMessage() for record in caplog.records]
    assert [int(line.split()[2].rstrip(",")) for line in lines if line.startswith("step = ")] == [10, 20, 30, 40]
    assert f"Loss for final step: {losses[-1]:.6g}." in lines
    events = EventAccumulator(str(model_dir), size_guidance={"scalars": 0})
    events.Reload()
    assert [event.step for event in events.Scalars("loss")] == [1, 11, 21, 31, 41]
    assert [event.step for event in events.Scalars("global_step/sec")] == [11, 21, 31, 41]
    assert sorted(int(path.name.split("-")[1]) for path in model_dir.glob("model.ckpt-*")) == [0, 20, 40, 45]
