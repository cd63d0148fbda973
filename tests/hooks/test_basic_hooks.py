"""The standard hooks (TensorFlow's), run by a real Estimator on a tiny linear model."""

from __future__ import annotations

import functools
import itertools
import json
import os
import re

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import torch_estimator as est
from torch_estimator.loops.train import train_loop
from torch_estimator.state import TrainState


def scalar_events(directory, tag: str) -> list[tuple[int, float]]:
    accumulator = EventAccumulator(str(directory), size_guidance={"scalars": 0})
    accumulator.Reload()
    if tag not in accumulator.Tags()["scalars"]:
        return []
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def messages(caplog, prefix: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.getMessage().startswith(prefix)]


class RecordingListener(est.CheckpointSaverListener):
    def __init__(self, stop_at: int | None = None):
        self.stop_at = stop_at
        self.calls: list = []

    def begin(self):
        self.calls.append("begin")

    def before_save(self, session, global_step_value):
        self.calls.append(("before_save", global_step_value))

    def after_save(self, session, global_step_value):
        self.calls.append(("after_save", global_step_value))
        return self.stop_at is not None and global_step_value >= self.stop_at

    def end(self, session, global_step_value):
        self.calls.append(("end", global_step_value))


def saves(*steps: int) -> list:
    return [call for step in steps for call in (("before_save", step), ("after_save", step))]


def checkpoint_steps(model_dir) -> list[int]:
    return sorted(int(name.rsplit("-", 1)[1]) for name in os.listdir(model_dir) if name.startswith("model.ckpt-"))


def label_mean_model_fn(features, labels, mode):
    """Loss = mean of the labels, so each step's loss is known exactly (the weights get no gradient)."""
    net = est.get_module("net", lambda: torch.nn.Linear(3, 1))
    loss = (net(features["x"]) * 0).sum() + labels.mean()
    return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD", learning_rate=0.1))


def nan_model_fn(features, labels, mode, params):
    """Linear regression whose loss becomes ``params['bad']`` (nan or inf) from step ``params['from_step']``."""
    net = est.get_module("net", lambda: torch.nn.Linear(3, 1))
    loss = torch.nn.functional.mse_loss(net(features["x"]), labels)
    if est.train.get_global_step() + 1 >= params["from_step"]:
        loss = loss * params["bad"]
    return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD", learning_rate=0.1))


def constant_batches(values):
    return [({"x": torch.ones(2, 3)}, torch.full((2, 1), float(value))) for value in values]


# -- LoggingTensorHook ------------------------------------------------------------------------
def test_logging_tensor_hook_every_n_iter(make_estimator, train_input, caplog):
    caplog.set_level("INFO", logger="torch_estimator")
    final = est.FinalOpsHook("loss")
    hook = est.LoggingTensorHook({"step": "global_step", "loss": "loss"}, every_n_iter=2)
    make_estimator().train(train_input, hooks=[hook, final], steps=5)
    lines = messages(caplog, "step = ")
    assert [int(re.match(r"step = (\d+)", line).group(1)) for line in lines] == [1, 3, 5]
    assert re.fullmatch(r"step = 1, loss = [-+.e\d]+", lines[0])  # nothing elapsed yet
    assert re.fullmatch(r"step = 3, loss = [-+.e\d]+ \(\d+\.\d{3} sec\)", lines[1])
    assert lines[2].startswith(f"step = 5, loss = {final.final_ops_values} (")


def test_logging_tensor_hook_at_end_and_formatter(make_estimator, train_input, caplog):
    caplog.set_level("INFO", logger="torch_estimator")
    at_end = est.LoggingTensorHook(["global_step"], at_end=True)
    formatted = est.LoggingTensorHook(["global_step", "y"], every_n_iter=3,
                                      formatter=lambda values: f"custom {values['global_step']} "
                                                               f"{values['y'].shape}")
    make_estimator().train(train_input, hooks=[at_end, formatted], steps=4)
    assert messages(caplog, "global_step = ") == ["global_step = 4"]
    assert messages(caplog, "custom") == ["custom 1 (16, 1)", "custom 4 (16, 1)"]


@pytest.mark.parametrize("kwargs, expected", [
    ({}, r"Exactly one of every_n_iter and every_n_secs must be provided\..*Pass every_n_iter=\.\.\."),
    ({"every_n_iter": 2, "every_n_secs": 1.0}, "Exactly one of every_n_iter and every_n_secs must be provided"),
    ({"every_n_iter": 0}, r"The timer period must be positive\..*every_steps=0"),
])
def test_logging_tensor_hook_arguments(kwargs, expected):
    with pytest.raises(ValueError, match=expected):
        est.LoggingTensorHook(["loss"], **kwargs)


# -- StopAtStepHook ---------------------------------------------------------------------------
def test_stop_at_step_num_steps_is_relative_and_last_step_absolute(make_estimator, train_input):
    estimator = make_estimator()
    estimator.train(train_input, steps=3)
    estimator.train(train_input, hooks=[est.StopAtStepHook(num_steps=2)])  # the input never ends
    assert estimator.get_variable_value("global_step") == 5
    estimator.train(train_input, hooks=[est.StopAtStepHook(last_step=7)])
    assert estimator.get_variable_value("global_step") == 7


@pytest.mark.parametrize("kwargs", [{}, {"num_steps": 1, "last_step": 2}])
def test_stop_at_step_needs_exactly_one_argument(kwargs):
    with pytest.raises(ValueError, match=r"Exactly one of num_steps and last_step must be provided\..*Received"):
        est.StopAtStepHook(**kwargs)


# -- NanTensorHook ----------------------------------------------------------------------------
@pytest.mark.parametrize("bad, from_step", [(float("nan"), 3), (float("inf"), 3), (float("nan"), 1)])
def test_nan_loss_fails_training_naming_the_step(make_estimator, train_input, bad, from_step):
    """The first step and the later ones (the loop's two paths) both check the loss."""
    estimator = make_estimator(model_fn=nan_model_fn, params={"from_step": from_step, "bad": bad})
    with pytest.raises(est.NanLossDuringTrainingError,
                       match=rf"Model diverged with loss = {bad} at step {from_step}\. Expected a finite loss\. "
                             r".*Lower the learning rate, clip gradients"):
        estimator.train(train_input, steps=10)


def test_nan_loss_without_fail_stops_and_logs(caplog):
    # The Estimator always adds a failing NanTensorHook, so run the loop with only this hook.
    state = TrainState()
    model_fn = functools.partial(nan_model_fn, params={"from_step": 3, "bad": float("nan")})
    batches = itertools.repeat(({"x": torch.ones(4, 3)}, torch.ones(4, 1)))
    ran = train_loop(state, batches, model_fn, [est.NanTensorHook(fail_on_nan_loss=False)],
                     device=torch.device("cpu"), last_step=10)
    assert ran == 3 and state.global_step == 3
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].startswith("Model diverged with loss = nan at step 3.")


# -- StepCounterHook --------------------------------------------------------------------------
def test_step_counter_writes_steps_per_second(make_estimator, train_input, tmp_path, caplog):
    caplog.set_level("INFO", logger="torch_estimator")
    hook = est.StepCounterHook(every_n_steps=2, output_dir=str(tmp_path / "rate"))
    make_estimator().train(train_input, hooks=[hook], steps=7)
    events = scalar_events(tmp_path / "rate", "global_step/sec")
    assert [step for step, _ in events] == [3, 5, 7]  # the first trigger (step 1) only starts the clock
    assert all(rate > 0 for _, rate in events)
    assert len(messages(caplog, "global_step/sec: ")) == 3


def test_step_counter_arguments():
    est.StepCounterHook(every_n_secs=5)  # every_n_secs replaces the default every_n_steps
    with pytest.raises(ValueError, match="Exactly one of every_n_steps and every_n_secs must be provided"):
        est.StepCounterHook(every_n_steps=None)


# -- SummarySaverHook -------------------------------------------------------------------------
def test_summary_saver_hook_writes_loss_every_save_steps(make_estimator, train_input, tmp_path, loss_recorder):
    losses = loss_recorder()
    hook = est.SummarySaverHook(save_steps=2, output_dir=str(tmp_path / "summaries"))
    make_estimator().train(train_input, hooks=[hook, losses], steps=6)
    events = scalar_events(tmp_path / "summaries", "loss")
    assert [step for step, _ in events] == [1, 3, 5]
    assert [value for _, value in events] == pytest.approx([losses.by_step[step] for step in (1, 3, 5)], rel=1e-6)


@pytest.mark.parametrize("kwargs, expected", [
    ({"save_steps": 1}, r"SummarySaverHook needs output_dir or summary_writer\..*Pass output_dir=model_dir"),
    ({"save_steps": 1, "save_secs": 1, "output_dir": "x"}, "Exactly one of save_steps and save_secs must be provided"),
])
def test_summary_saver_hook_arguments(kwargs, expected):
    with pytest.raises(ValueError, match=expected):
        est.SummarySaverHook(**kwargs)


# -- CheckpointSaverHook and listeners --------------------------------------------------------
def test_saving_listeners_see_every_save_of_the_default_saver(make_estimator, train_input):
    listener = RecordingListener()
    make_estimator(save_checkpoints_steps=2).train(train_input, steps=5, saving_listeners=[listener])
    assert listener.calls == ["begin", *saves(0, 2, 4, 5), ("end", 5)]


def test_user_checkpoint_saver_replaces_the_default_and_gets_the_listeners(make_estimator, train_input):
    estimator = make_estimator(save_checkpoints_steps=1)  # the default saver would save every step
    listener = RecordingListener()
    saver = est.CheckpointSaverHook(estimator.model_dir, save_steps=3)
    estimator.train(train_input, hooks=[saver], steps=4, saving_listeners=[listener])
    assert checkpoint_steps(estimator.model_dir) == [0, 3, 4]
    assert listener.calls == ["begin", *saves(0, 3, 4), ("end", 4)]


def test_listener_after_save_returning_true_stops_training(make_estimator, train_input, caplog):
    caplog.set_level("INFO", logger="torch_estimator")
    estimator = make_estimator(save_checkpoints_steps=2)
    listener = RecordingListener(stop_at=2)
    estimator.train(train_input, steps=10, saving_listeners=[listener])
    assert estimator.get_variable_value("global_step") == 2
    assert listener.calls == ["begin", *saves(0, 2), ("end", 2)]  # step 0 is the initial save: no stop
    assert "A CheckpointSaverListener requested that training be stopped." in caplog.text


def test_saving_listeners_need_checkpoints(make_estimator, train_input):
    estimator = make_estimator(save_checkpoints_steps=None, save_checkpoints_secs=None)
    with pytest.raises(ValueError, match=r"There should be a CheckpointSaverHook to use saving_listeners\. "
                                         r"Expected checkpoints enabled"):
        estimator.train(train_input, steps=2, saving_listeners=[RecordingListener()])
    estimator.train(train_input, steps=2)
    assert estimator.latest_checkpoint() is None


def test_checkpoint_saver_hook_arguments(tmp_path):
    with pytest.raises(ValueError, match="Exactly one of save_secs and save_steps must be provided"):
        est.CheckpointSaverHook(str(tmp_path))


# -- ProfilerHook -----------------------------------------------------------------------------
def test_profiler_hook_writes_chrome_traces(make_estimator, train_input, tmp_path):
    output_dir = tmp_path / "profile"
    make_estimator().train(train_input, hooks=[est.ProfilerHook(save_steps=2, output_dir=str(output_dir))],
                           steps=5)
    assert sorted(os.listdir(output_dir)) == ["timeline-2.json", "timeline-4.json"]  # TF skips the first step
    trace = json.loads((output_dir / "timeline-4.json").read_text())
    names = {event.get("name") for event in trace["traceEvents"]}
    assert "aten::linear" in names  # the forward pass of model_fn
    assert any(name and name.startswith("Optimizer.step") for name in names)  # and the update


def test_profiler_hook_arguments():
    with pytest.raises(ValueError, match="Exactly one of save_steps and save_secs must be provided"):
        est.ProfilerHook()


# -- FinalOpsHook -----------------------------------------------------------------------------
def test_final_ops_hook_keeps_the_last_values(make_estimator):
    estimator = make_estimator(model_fn=label_mean_model_fn)
    train_final = est.FinalOpsHook({"loss": "loss", "step": "global_step"})
    estimator.train(lambda: constant_batches([1, 2, 3]), hooks=[train_final])
    assert train_final.final_ops_values == {"loss": 3.0, "step": 3}

    eval_final = est.FinalOpsHook(["loss"])
    results = estimator.evaluate(lambda: constant_batches([4, 6]), hooks=[eval_final])
    assert eval_final.final_ops_values == [6.0]
    assert results["loss"] == pytest.approx(5.0)


def test_saving_listeners_attach_to_a_reused_user_saver_for_one_call_only(make_estimator, train_input):
    estimator = make_estimator()
    saves: list[int] = []

    class Counting(est.CheckpointSaverListener):
        def after_save(self, session, global_step_value):
            saves.append(global_step_value)

    saver = est.CheckpointSaverHook(estimator.model_dir, save_steps=2)
    estimator.train(train_input, steps=2, hooks=[saver], saving_listeners=[Counting()])
    estimator.train(train_input, steps=2, hooks=[saver], saving_listeners=[Counting()])
    assert saver.listeners == []  # nothing piles up across calls (e.g. train_and_evaluate reruns)
    assert saves == [0, 2, 4]  # each save seen once, by the listener of its own call


def test_logging_hook_with_both_periods_names_its_own_arguments():
    with pytest.raises(ValueError, match="Exactly one of every_n_iter and every_n_secs"):
        est.LoggingTensorHook(["loss"], every_n_iter=1, every_n_secs=1, at_end=True)
