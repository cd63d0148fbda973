"""``est.tuning.tune``: trials of a real train_and_evaluate, each in a process and a model_dir of its own."""

from __future__ import annotations

import csv
import os

import numpy as np
import optuna
import pytest
import torch

import torch_estimator as est
from torch_estimator.summary.eval_log import read_eval_metrics



def linear_trial(params: dict, model_dir: str) -> None:
    """y = 2x + 1 by SGD at params["learning_rate"]; an evaluation every 5 steps, an export at the end."""
    x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(-1, 1)
    features, labels = {"x": x}, 2 * x + 1

    def model_fn(features, labels, mode):
        net = est.get_module("net", lambda: torch.nn.Linear(1, 1))
        predictions = net(features["x"])
        if mode == est.ModeKeys.PREDICT:
            return est.EstimatorSpec(mode, predictions={"y": predictions})
        loss = torch.nn.functional.mse_loss(predictions, labels)
        return est.EstimatorSpec(mode, loss=loss, predictions={"y": predictions},
                                 train_op=est.train.minimize(loss, "SGD", learning_rate=params["learning_rate"]),
                                 eval_metric_ops={"rmse": est.metrics.root_mean_squared_error(labels, predictions)})

    serving = est.export.build_raw_serving_input_receiver_fn({"x": est.export.TensorSpec([None, 1], torch.float32)})
    estimator = est.Estimator(model_fn, model_dir, est.RunConfig(tf_random_seed=0, progress_bar=False))
    est.train_and_evaluate(
        estimator,
        est.TrainSpec(est.inputs.numpy_input_fn(features, labels, batch_size=8, num_epochs=None, shuffle=True), 15),
        est.EvalSpec(est.inputs.numpy_input_fn(features, labels, batch_size=32, num_epochs=1, shuffle=False),
                     every_n_steps=5, exporters=est.FinalExporter("final", serving)))


SPACE = [{"parameterName": "learning_rate", "type": "DOUBLE", "minValue": 0.001, "maxValue": 0.5,
          "scaleType": "UNIT_LOG_SCALE"}]


def test_tune_runs_trials_in_their_own_model_dirs_and_returns_the_best(tmp_path):
    output = tmp_path / "study"
    result = est.tuning.tune(linear_trial, SPACE, output_dir=str(output), metric="rmse", goal="MINIMIZE",
                             max_trials=2, max_parallel_trials=2, poll_seconds=0.1,
                             sampler=optuna.samplers.RandomSampler(seed=0))
    assert sorted(t.trial_id for t in result.trials) == ["1", "2"]
    assert all(t.state == "COMPLETE" for t in result.trials)
    values = [t.value for t in result.trials]
    assert values == sorted(values) and result.best_value == values[0]
    best = result.best
    # Each trial trained in <output>/<id>; its value is its last evaluation's rmse, every evaluation was reported.
    for trial in result.trials:
        assert trial.model_dir == str(output / trial.trial_id)
        logged = read_eval_metrics(os.path.join(trial.model_dir, "eval"))
        assert trial.intermediate_values == {step: pytest.approx(m["rmse"]) for step, m in logged.items()}
        assert list(logged) == [5, 10, 15] and trial.value == pytest.approx(logged[15]["rmse"])
    # A larger learning rate (up to 0.5) learns this problem faster: the best trial has the largest.
    assert best.params["learning_rate"] == max(t.params["learning_rate"] for t in result.trials)
    assert best.export_path.startswith(str(output / best.trial_id / "export" / "final"))
    assert os.path.exists(os.path.join(best.export_path, "signature.json"))
    with open(output / "trials.csv") as f:
        table = list(csv.DictReader(f))
    assert [row["trial"] for row in table] == [t.trial_id for t in result.trials]
    assert {"optimization_history.png", "param_importances.png", "trials.md", "study.journal"} <= set(
        os.listdir(output))


def test_trial_fn_must_be_a_module_level_function(tmp_path):
    with pytest.raises(TypeError, match=r"trial_fn must be picklable: each trial runs in a process of its own\. "
                                        r"Expected a module-level function .* Received: trial_fn=<function"):
        est.tuning.tune(lambda params, model_dir: None, SPACE, output_dir=str(tmp_path))
