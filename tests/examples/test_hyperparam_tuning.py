"""The course's b_hyperparam lab: tune batch_size and learning_rate of the housing LinearRegressor for rmse.

Acceptance: 5 trials of ``hyperparam.yaml`` (batch_size INTEGER 8-64 linear, learning_rate
DOUBLE 0.01-0.1 log, MINIMIZE rmse); the best trial's rmse is no worse than the trainer's
default parameters (learning_rate 0.01, batch_size 30) trained for the same steps.
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import sys

import pytest

from torch_estimator.cli.main import main as cli

LAB = pathlib.Path(__file__).resolve().parents[2] / "examples" / "hyperparam"
sys.path.insert(0, str(LAB))  # at collection, before any trial process starts: trainer and tune_in_python


def default_run(model_dir, *flags: str) -> float:
    task = importlib.import_module("trainer.task")
    return task.main(["--output_dir", str(model_dir), *flags])["rmse"]


def test_tuned_parameters_beat_the_defaults(tmp_path):
    """Small version: 40 steps, the study through est.tuning.tune, 2 trials at a time."""
    steps = ["--train_steps=40", "--eval_every_steps=20", "--no_export"]
    default = default_run(tmp_path / "default", *steps)
    lab = importlib.import_module("tune_in_python")
    result = lab.main(str(tmp_path / "tuning"), train_steps=40, eval_every_steps=20, export=False,
                      max_parallel_trials=2)
    assert len(result.trials) == 5 and all(t.state == "COMPLETE" for t in result.trials)
    for trial in result.trials:
        assert 8 <= trial.params["batch_size"] <= 64 and 0.01 <= trial.params["learning_rate"] <= 0.1
        assert sorted(trial.intermediate_values) == [20, 40]
    assert result.best_value <= default
    assert result.best_value == min(t.value for t in result.trials)


@pytest.mark.slow
def test_the_labs_tuning_job_through_the_cli(tmp_path, monkeypatch, capsys):
    """The course's command: torch-estimator tune --config hyperparam.yaml -- python -m trainer.task."""
    monkeypatch.chdir(LAB)
    steps = ["--train_steps=300", "--eval_every_steps=100"]
    default = default_run(tmp_path / "default", *steps)
    output = tmp_path / "tuning"
    assert cli(["tune", "--config", "hyperparam.yaml", "--output_dir", str(output), "--",
                sys.executable, "-m", "trainer.task", "--output_dir", str(output), *steps]) == 0
    printed = capsys.readouterr().out
    rows = [line for line in printed.splitlines() if line.startswith("| ") and "COMPLETE" in line]
    assert len(rows) == 5
    best_rmse = float(rows[0].split("|")[3])
    assert best_rmse <= default
    best_trial = rows[0].split("|")[1].strip()
    # The best trial's export is a servable model under its model_dir.
    exports = os.listdir(output / best_trial / "export" / "exporter")
    assert exports and f"export {output / best_trial / 'export' / 'exporter'}" in printed
    assert json.loads((output / "logs" / f"{best_trial}.log").read_text().strip().splitlines()[-1])["rmse"] == (
        pytest.approx(best_rmse, rel=1e-5))
