"""The default training hooks through the hook runner: on which steps they log, write and save."""

from __future__ import annotations

import logging

import torch_estimator as est


def test_default_hooks_log_count_and_save_on_their_steps(make_estimator, train_input, caplog, tmp_path):
    """Lines, summaries and checkpoints of the default hooks land on these steps, and the final
    loss logged is the last step's."""
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


def test_without_user_hooks_the_defaults_keep_their_steps(make_estimator, train_input, caplog, tmp_path):
    """With only scheduled hooks the loop skips the hook runner between their steps; the lines,
    summaries and checkpoints are the same."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model_dir = tmp_path / "model"
    estimator = make_estimator(model_dir=str(model_dir), log_step_count_steps=10, save_summary_steps=10,
                               save_checkpoints_steps=20)
    with caplog.at_level(logging.INFO, logger="torch_estimator"):
        estimator.train(train_input, steps=45)
    lines = [record.getMessage() for record in caplog.records]
    assert [int(line.split()[2].rstrip(",")) for line in lines if line.startswith("step = ")] == [10, 20, 30, 40]
    events = EventAccumulator(str(model_dir), size_guidance={"scalars": 0})
    events.Reload()
    assert [event.step for event in events.Scalars("loss")] == [1, 11, 21, 31, 41]
    assert [event.step for event in events.Scalars("global_step/sec")] == [11, 21, 31, 41]
    assert sorted(int(path.name.split("-")[1]) for path in model_dir.glob("model.ckpt-*")) == [0, 20, 40, 45]
