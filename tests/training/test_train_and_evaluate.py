"""train_and_evaluate locally: the schedule, the final evaluation, exporters, and what it refuses."""

from __future__ import annotations

import logging
import os

import pytest
import torch

import torch_estimator as est
from torch_estimator.experimental import make_early_stopping_hook
from torch_estimator.export.exporters import FinalExporter, LatestExporter
from torch_estimator.summary.eval_log import read_eval_metrics, read_eval_results
from torch_estimator.training import EvalSpec, TrainSpec, local, train_and_evaluate

from .conftest import RecordingExporter, checkpoint_steps


def serving_fn():
    return None


class FakeClock:
    """Time advances by one second per training step (a hook ticks it before each step)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Tick(est.SessionRunHook):
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def before_run(self, run_context):
        self.clock.now += 1.0


def evaluated_steps(estimator, name=None) -> list[int]:
    return sorted(read_eval_metrics(estimator.eval_dir(name)))


def skip_messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("Skip the current checkpoint eval")]


def test_throttle_secs_skips_checkpoints_and_the_end_is_always_evaluated(make_estimator, train_input, eval_input,
                                                                        monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="torch_estimator")
    clock = FakeClock()
    monkeypatch.setattr(local, "_monotonic", clock)
    estimator = make_estimator(save_checkpoints_steps=10)
    metrics, exports = train_and_evaluate(estimator, TrainSpec(train_input, max_steps=60, hooks=[Tick(clock)]),
                                          EvalSpec(eval_input, steps=None, throttle_secs=25))
    # Saves at 0 (skipped: nothing trained yet), 10 (first: evaluated, t=10), 20 and 30 (10 and 20 s
    # later: skipped), 40 (30 s: evaluated), 50 (10 s: skipped), 60 (20 s: skipped) and the end
    # (step 60 not evaluated yet: evaluated).
    assert evaluated_steps(estimator) == [10, 40, 60]
    assert skip_messages(caplog) == ["Skip the current checkpoint eval due to throttle secs (25 secs)."] * 4
    assert metrics["global_step"] == 60 and exports == []
    assert set(metrics) == {"loss", "average_loss", "rmse", "mae", "global_step"}


def test_throttle_zero_evaluates_every_checkpoint_once(make_estimator, train_input, eval_input):
    estimator = make_estimator(save_checkpoints_steps=10)
    metrics, _ = train_and_evaluate(estimator, TrainSpec(train_input, max_steps=30),
                                    EvalSpec(eval_input, steps=2, throttle_secs=0))
    assert evaluated_steps(estimator) == [10, 20, 30]
    assert len(read_eval_results(estimator.eval_dir())) == 3  # step 30 was not evaluated twice
    assert [r["checkpoint_path"] for r in read_eval_results(estimator.eval_dir())] == [
        os.path.join(estimator.model_dir, f"model.ckpt-{step}") for step in (10, 20, 30)]


def test_short_run_gets_its_final_evaluation_and_no_missing_checkpoint_error(make_estimator, train_input, eval_input):
    estimator = make_estimator()  # checkpoints every 600 s: only at the start and the end
    exporter = RecordingExporter()
    metrics, exports = train_and_evaluate(estimator, TrainSpec(train_input, max_steps=5),
                                          EvalSpec(eval_input, exporters=exporter))
    assert metrics["global_step"] == 5 and evaluated_steps(estimator) == [5]
    assert exports == [None]
    assert exporter.calls == [{"export_path": os.path.join(estimator.model_dir, "export", "recorder"),
                               "checkpoint_path": os.path.join(estimator.model_dir, "model.ckpt-5"),
                               "step": 5, "final": True}]


def test_exporters_run_after_each_evaluation_and_final_only_at_max_steps(make_estimator, train_input, eval_input,
                                                                        fake_export):
    estimator = make_estimator(save_checkpoints_steps=10)
    export = fake_export(estimator)
    recorder = RecordingExporter()
    latest, final = LatestExporter("latest", serving_fn, exports_to_keep=2), FinalExporter("final", serving_fn)
    metrics, exports = train_and_evaluate(estimator, TrainSpec(train_input, max_steps=30),
                                          EvalSpec(eval_input, throttle_secs=0, exporters=[recorder, latest, final]))
    assert [(call["step"], call["final"]) for call in recorder.calls] == [(10, False), (20, False), (30, True)]
    export_dir = os.path.join(estimator.model_dir, "export")
    assert [(os.path.basename(base), os.path.basename(path)) for base, path in export.calls] == [
        ("latest", "model.ckpt-10"), ("latest", "model.ckpt-20"), ("latest", "model.ckpt-30"),
        ("final", "model.ckpt-30")]
    assert len(os.listdir(os.path.join(export_dir, "latest"))) == 2  # exports_to_keep
    assert exports[0] is None and exports[1].startswith(os.path.join(export_dir, "latest"))
    assert exports[2].startswith(os.path.join(export_dir, "final"))
    assert metrics["global_step"] == 30


def test_early_stop_between_evaluations_still_gets_a_final_evaluation_and_export(make_estimator, train_input,
                                                                                  eval_input, fake_export):
    estimator = make_estimator(save_checkpoints_steps=10)
    export = fake_export(estimator)
    steps_seen = []

    def should_stop():
        steps_seen.append(len(steps_seen) + 1)
        return len(steps_seen) >= 35  # checked every step: stop at step 35

    hook = make_early_stopping_hook(estimator, should_stop, run_every_steps=1)
    latest, final = LatestExporter("latest", serving_fn), FinalExporter("final", serving_fn)
    metrics, exports = train_and_evaluate(estimator, TrainSpec(train_input, max_steps=100, hooks=[hook]),
                                          EvalSpec(eval_input, throttle_secs=0, exporters=[latest, final]))
    assert metrics["global_step"] == 35 and evaluated_steps(estimator) == [10, 20, 30, 35]
    # TensorFlow's FinalExporter never exported after an early stop (35 < max_steps); here the end
    # of a local run is final.
    assert [os.path.basename(base) + "@" + os.path.basename(path) for base, path in export.calls][-2:] == [
        "latest@model.ckpt-35", "final@model.ckpt-35"]
    assert all(exports)


def test_early_stop_right_after_an_evaluation_exports_final_without_duplicates(make_estimator, train_input,
                                                                               eval_input, fake_export):
    estimator = make_estimator(save_checkpoints_steps=10)
    export = fake_export(estimator)
    hook = make_early_stopping_hook(estimator, lambda: 20 in read_eval_metrics(estimator.eval_dir()),
                                    run_every_steps=1)
    latest, final = LatestExporter("latest", serving_fn), FinalExporter("final", serving_fn)
    metrics, exports = train_and_evaluate(estimator, TrainSpec(train_input, max_steps=100, hooks=[hook]),
                                          EvalSpec(eval_input, throttle_secs=0, exporters=[latest, final]))
    assert metrics["global_step"] == 20 and evaluated_steps(estimator) == [10, 20]
    # Step 20 was evaluated (not final) before the stop; at the end only the exporter that did not
    # export it is asked again, as final.
    assert [os.path.basename(base) + "@" + os.path.basename(path) for base, path in export.calls] == [
        "latest@model.ckpt-10", "latest@model.ckpt-20", "final@model.ckpt-20"]
    assert all(exports)


def test_every_n_steps_evaluates_the_weights_in_memory_without_checkpoints(make_estimator, train_input,
                                                                          eval_input):
    estimator = make_estimator()  # checkpoints only at the start and the end
    metrics, _ = train_and_evaluate(estimator, TrainSpec(train_input, max_steps=35),
                                    EvalSpec(eval_input, every_n_steps=10))
    results = read_eval_metrics(estimator.eval_dir())
    assert list(results) == [10, 20, 30, 35]
    assert checkpoint_steps(estimator.model_dir) == [0, 35]
    losses = [results[step]["loss"] for step in (10, 20, 30)]
    assert losses == sorted(losses, reverse=True) and len(set(losses)) == 3  # trained weights, not step 0's
    assert metrics["global_step"] == 35


def test_every_n_steps_with_exporters_writes_the_checkpoint_it_exports(make_estimator, train_input, eval_input,
                                                                      fake_export):
    estimator = make_estimator()
    export = fake_export(estimator)
    recorder = RecordingExporter()
    train_and_evaluate(estimator, TrainSpec(train_input, max_steps=25),
                       EvalSpec(eval_input, every_n_steps=10, exporters=[recorder, LatestExporter("l", serving_fn)]))
    assert checkpoint_steps(estimator.model_dir) == [0, 10, 20, 25]
    assert [(c["step"], os.path.basename(c["checkpoint_path"]), c["final"]) for c in recorder.calls] == [
        (10, "model.ckpt-10", False), (20, "model.ckpt-20", False), (25, "model.ckpt-25", True)]
    assert [os.path.basename(path) for _, path in export.calls] == ["model.ckpt-10", "model.ckpt-20", "model.ckpt-25"]
    logged = [os.path.basename(r["checkpoint_path"]) for r in read_eval_results(estimator.eval_dir())]
    assert logged == ["model.ckpt-10", "model.ckpt-20", "model.ckpt-25"]


def test_every_n_steps_works_with_checkpoints_disabled(make_estimator, train_input, eval_input, tmp_path):
    estimator = make_estimator(save_checkpoints_steps=None, save_checkpoints_secs=None)
    metrics, exports = train_and_evaluate(estimator, TrainSpec(train_input, max_steps=20),
                                          EvalSpec(eval_input, every_n_steps=10))
    assert evaluated_steps(estimator) == [10, 20] and metrics["global_step"] == 20 and exports == []
    assert checkpoint_steps(estimator.model_dir) == []
    # With exporters, the checkpoints the exports are made from are written anyway.
    exporting = make_estimator(model_dir=str(tmp_path / "exporting"), save_checkpoints_steps=None,
                               save_checkpoints_secs=None)
    exporter = RecordingExporter()
    train_and_evaluate(exporting, TrainSpec(train_input, max_steps=20),
                       EvalSpec(eval_input, every_n_steps=10, exporters=exporter))
    assert checkpoint_steps(exporting.model_dir) == [10, 20]
    assert [(c["step"], os.path.basename(c["checkpoint_path"])) for c in exporter.calls] == [
        (10, "model.ckpt-10"), (20, "model.ckpt-20")]


def dropout_model_fn(features, labels, mode):
    net = est.get_module("net", lambda: torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(),
                                                              torch.nn.Dropout(0.5), torch.nn.Linear(16, 1)))
    predictions = net(features["x"])
    loss = torch.nn.functional.mse_loss(predictions, labels)
    return est.EstimatorSpec(mode, predictions={"y": predictions}, loss=loss,
                             train_op=est.train.minimize(loss, "Adam", learning_rate=0.01))


@pytest.mark.parametrize("eval_spec_args", [{"throttle_secs": 0}, {"every_n_steps": 5, "exporters": "fake"}],
                         ids=["after-checkpoints", "every-n-steps-writing-checkpoints"])
def test_evaluations_do_not_change_training(make_estimator, train_input, eval_input, loss_recorder, fake_export,
                                            tmp_path, eval_spec_args):
    plain = make_estimator(dropout_model_fn, model_dir=str(tmp_path / "plain"), save_checkpoints_steps=10)
    alone = loss_recorder()
    plain.train(train_input, hooks=[alone], max_steps=30)
    estimator = make_estimator(dropout_model_fn, model_dir=str(tmp_path / "tae"), save_checkpoints_steps=10)
    if eval_spec_args.get("exporters") == "fake":
        fake_export(estimator)
        eval_spec_args = {**eval_spec_args, "exporters": LatestExporter("l", serving_fn)}
    recorded = loss_recorder()
    train_and_evaluate(estimator, TrainSpec(train_input, max_steps=30, hooks=[recorded]),
                       EvalSpec(eval_input, **eval_spec_args))
    assert len(read_eval_metrics(estimator.eval_dir())) >= 3
    assert recorded.losses == alone.losses  # same dropout masks, same updates


def test_nothing_to_train_evaluates_the_latest_checkpoint(make_estimator, train_input, eval_input):
    estimator = make_estimator()
    train_and_evaluate(estimator, TrainSpec(train_input, max_steps=5), EvalSpec(eval_input))
    again = make_estimator()  # a restarted job whose training is already complete
    exporter = RecordingExporter()
    metrics, _ = train_and_evaluate(again, TrainSpec(train_input, max_steps=5),
                                    EvalSpec(eval_input, exporters=exporter))
    assert metrics["global_step"] == 5 and [(c["step"], c["final"]) for c in exporter.calls] == [(5, True)]


def test_no_step_and_no_checkpoint_evaluates_fresh_weights_without_exporting(make_estimator, eval_input, caplog):
    caplog.set_level(logging.WARNING, logger="torch_estimator")
    estimator = make_estimator()
    exporter = RecordingExporter()
    metrics, exports = train_and_evaluate(estimator, TrainSpec(lambda: [], max_steps=5),
                                          EvalSpec(eval_input, exporters=exporter))
    assert metrics["global_step"] == 0 and exports == [None] and exporter.calls == []
    assert ("Not exporting after the evaluation at step 0: no checkpoint holds the evaluated weights (training "
            "ran no step and model_dir has no checkpoint).") in caplog.text


def test_resumed_run_evaluates_its_first_new_checkpoint(make_estimator, train_input, eval_input):
    estimator = make_estimator(save_checkpoints_steps=10)
    train_and_evaluate(estimator, TrainSpec(train_input, max_steps=10), EvalSpec(eval_input, throttle_secs=0))
    resumed = make_estimator(save_checkpoints_steps=10)
    train_and_evaluate(resumed, TrainSpec(train_input, max_steps=30), EvalSpec(eval_input, throttle_secs=0))
    assert evaluated_steps(resumed) == [10, 20, 30]


def test_named_evaluations_go_to_their_own_directory(make_estimator, train_input, eval_input):
    estimator = make_estimator(save_checkpoints_steps=10)
    train_and_evaluate(estimator, TrainSpec(train_input, max_steps=10), EvalSpec(eval_input, name="validation"))
    assert evaluated_steps(estimator, "validation") == [10] and evaluated_steps(estimator) == []


def test_checkpoints_disabled_without_every_n_steps_is_an_error(make_estimator, train_input, eval_input):
    estimator = make_estimator(save_checkpoints_steps=None, save_checkpoints_secs=None)
    with pytest.raises(ValueError) as info:
        train_and_evaluate(estimator, TrainSpec(train_input, max_steps=5), EvalSpec(eval_input))
    assert str(info.value) == (
        "train_and_evaluate evaluates after checkpoint saves, but checkpoints are disabled. Expected "
        "RunConfig(save_checkpoints_steps=...) or save_checkpoints_secs, or EvalSpec(every_n_steps=...). Received: "
        "save_checkpoints_steps=None, save_checkpoints_secs=None. Enable checkpoints, or evaluate every N steps with "
        "EvalSpec(every_n_steps=N).")


def test_argument_types_are_checked(make_estimator, train_input, eval_input):
    estimator = make_estimator()
    with pytest.raises(TypeError) as info:
        train_and_evaluate(object(), TrainSpec(train_input), EvalSpec(eval_input))
    assert str(info.value) == "estimator must be an est.Estimator. Received: estimator='object'. Pass an est.Estimator."
    with pytest.raises(TypeError, match=r"^train_spec must be an est.TrainSpec. Received: train_spec='EvalSpec'"):
        train_and_evaluate(estimator, EvalSpec(eval_input), EvalSpec(eval_input))
    with pytest.raises(TypeError, match=r"^eval_spec must be an est.EvalSpec. Received: eval_spec='dict'"):
        train_and_evaluate(estimator, TrainSpec(train_input), {})
