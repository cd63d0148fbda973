"""``torch-estimator tune`` and ``run_study`` with trainer commands: flags, TF_CONFIG, failures, pruning, resuming."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import optuna
import pytest

from torch_estimator.cli.main import main
from torch_estimator.tuning import command_launcher, read_hyperparameters, run_study


def write_config(tmp_path, spec: dict) -> str:
    path = tmp_path / "hyperparam.yaml"
    path.write_text(json.dumps({"trainingInput": {"scaleTier": "BASIC", "hyperparameters": spec}}))  # JSON is YAML
    return str(path)


def run(trainer, output, spec: dict, *flags: str, **options):
    return run_study(read_hyperparameters(spec), command_launcher(trainer.command(output, *flags)), str(output),
                     poll_seconds=0.05, **options)


def test_cli_runs_the_trainer_per_trial_with_flags_and_tf_config(tmp_path, trainer, capsys):
    output = tmp_path / "out"
    spec = trainer.spec(max_trials=3, parallel=2, params=[
        {"parameterName": "x", "type": "DOUBLE", "minValue": 0.0, "maxValue": 1.0},
        {"parameterName": "y", "type": "DISCRETE", "discreteValues": [1, 0]}])
    argv = ["tune", "--config", write_config(tmp_path, spec), "--output_dir", str(output), "--", *trainer.command(output)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    lines = [line for line in printed.splitlines() if line.startswith("| ") and "COMPLETE" in line]
    assert len(lines) == 3 and "Best trial" in printed
    for trial_id in "123":
        # The trainer appended TF_CONFIG's trial id to --output_dir, and the tuner read its metric there.
        assert (output / trial_id / "done").exists() and (output / "logs" / f"{trial_id}.log").exists()
    study = optuna.load_study(study_name="out", storage=optuna.storages.journal.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(output / "study.journal"))))
    for trial in study.trials:
        x, y = trial.params["x"], trial.params["y"]
        # --x and --y reached the trainer: its last evaluation (step 30) is (x - 0.3)^2 + y + 1/3.
        assert trial.value == pytest.approx((x - 0.3) ** 2 + y + 1 / 3)
        assert trial.intermediate_values == pytest.approx({10: trial.value + 2 / 3, 20: trial.value + 1 / 6,
                                                           30: trial.value})
    assert (output / "trials.md").read_text().count("COMPLETE") == 3
    assert (output / "optimization_history.png").stat().st_size > 1000


def test_crashing_trial_is_recorded_failed_and_the_study_goes_on(tmp_path, trainer):
    output = tmp_path / "out"
    trainer.enqueue(output, {"x": 0.5, "kind": "crash"}, {"x": 0.5, "kind": "a"})
    result = run(trainer, output, trainer.spec(max_trials=2, kinds=("a", "crash")))
    crashed, completed = {t.trial_id: t for t in result.trials}["1"], result.best
    assert crashed.state == "FAIL" and completed.trial_id == "2" and completed.state == "COMPLETE"
    log = os.path.join(output, "logs", "1.log")
    assert crashed.failure.startswith(f"Trial 1 crashed. Expected the trainer to exit with status 0. "
                                      f"Received: exit_status=3. See its log {log}.")
    assert crashed.failure.endswith("boom at step 2")
    assert [t.trial_id for t in result.trials] == ["2", "1"]  # completed first, failed last
    # Fewer than 2 completed trials: no importances plot, and the summary says why.
    assert not (output / "param_importances.png").exists()
    assert "Parameter importances need at least 2 completed trials" in (output / "trials.md").read_text()


def test_unpromising_trial_is_pruned_and_its_trainer_stopped(tmp_path, trainer):
    output = tmp_path / "out"
    trainer.enqueue(output, {"x": 0.3, "kind": "a"}, {"x": 0.3, "kind": "b"})
    result = run(trainer, output, trainer.spec(max_trials=2), "--steps=6", "--sleep=0.3",
                 pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    good, bad = result.trials
    assert (good.trial_id, good.state, len(good.intermediate_values)) == ("1", "COMPLETE", 6)
    # Trial 2 is worse than the median at its first evaluation: stopped there, its trainer never finished.
    assert bad.trial_id == "2" and bad.state == "PRUNED" and len(bad.intermediate_values) < 6
    assert not (output / "2" / "done").exists()


def test_metric_never_reported_fails_each_trial_and_the_cli_says_why(tmp_path, trainer, capsys):
    output = tmp_path / "out"
    argv = ["tune", "--config", write_config(tmp_path, trainer.spec(max_trials=1)), "--output_dir", str(output),
            "--", *trainer.command(output, "--metric=loss")]
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert "torch-estimator tune: error: No trial completed. Expected at least one trial reporting 'rmse'." in error
    assert (f"Trial 1 never reported the metric 'rmse'. Expected evaluation results with 'rmse' in "
            f"{output / '1' / 'eval' / 'eval_results.jsonl'}.") in error
    assert "Received: reported=['global_step', 'loss']." in error


def test_a_metric_that_is_never_finite_is_a_failure(tmp_path, trainer):
    with pytest.raises(ValueError, match=r"No trial completed\..* first_failure=\"Trial 1 reported only non-finite "
                                         r"values of 'rmse'\. Expected a finite metric\. Received: values=\[nan, nan, "
                                         r"nan\]\. Lower the learning rate or check the data\.\""):
        run(trainer, tmp_path / "out", trainer.spec(max_trials=1), "--y=nan")


def test_rerunning_resumes_the_study_up_to_max_trials(tmp_path, trainer):
    output = tmp_path / "out"
    first = run(trainer, output, trainer.spec(max_trials=2))
    assert sorted(t.trial_id for t in first.trials) == ["1", "2"]
    second = run(trainer, output, trainer.spec(max_trials=3))
    assert sorted(t.trial_id for t in second.trials) == ["1", "2", "3"]
    assert {t.trial_id: t.value for t in second.trials if t.trial_id != "3"} == {
        t.trial_id: t.value for t in first.trials}
    again = run(trainer, output, trainer.spec(max_trials=3))  # complete: nothing runs
    assert again.trials == second.trials and len(os.listdir(output / "logs")) == 3


def test_a_trial_left_running_by_a_dead_tuner_is_retried_in_its_model_dir(tmp_path, trainer):
    output = tmp_path / "out"
    trainer.enqueue(output, {"x": 0.5, "kind": "a"})
    storage = optuna.storages.journal.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(output / "study.journal")))
    study = optuna.load_study(study_name="out", storage=storage)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    trial = study.ask()  # as a tuner that then died would have: the enqueued parameters, RUNNING
    trial.suggest_float("x", 0, 1), trial.suggest_categorical("kind", ["a", "b"])
    for key, value in {"trial_id": "1", "model_dir": str(output / "1"),
                       "owner": {"host": socket.gethostname(), "pid": dead.pid}}.items():
        trial.set_user_attr(key, value)
    result = run(trainer, output, trainer.spec(max_trials=2))
    # Trial ids are Optuna's trial numbers + 1; the retry (Optuna's trial 1) keeps the id, and model_dir, of
    # the trial it retries, so a real trainer would resume from its checkpoints; the next new trial is 3.
    assert sorted((t.trial_id, t.state) for t in result.trials) == [("1", "COMPLETE"), ("3", "COMPLETE")]
    retry = {t.trial_id: t for t in result.trials}["1"]
    assert retry.params == {"x": 0.5, "kind": "a"} and retry.number == 1 and retry.model_dir == str(output / "1")
    states = [t.state.name for t in optuna.load_study(study_name="out", storage=storage).trials]
    assert states == ["FAIL", "COMPLETE", "COMPLETE"]


def test_ctrl_c_stops_the_running_trial_and_the_next_run_retries_it(tmp_path, trainer):
    output = tmp_path / "out"
    first_eval = output / "1" / "eval" / "eval_results.jsonl"

    def press_ctrl_c() -> None:
        deadline = time.monotonic() + 60
        while not first_eval.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run(trainer, output, trainer.spec(max_trials=1), "--steps=100", "--sleep=0.1")
    storage = optuna.storages.journal.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(output / "study.journal")))
    interrupted, retry = optuna.load_study(study_name="out", storage=storage).trials
    assert interrupted.state.name == "FAIL" and interrupted.user_attrs["failure"] == "interrupted: the tuner stopped"
    assert retry.state.name == "WAITING" and retry.params == interrupted.params
    assert not (output / "1" / "done").exists()  # its trainer was stopped, not left running
    evaluations = len(first_eval.read_text().splitlines())
    time.sleep(0.3)
    assert len(first_eval.read_text().splitlines()) == evaluations
    result = run(trainer, output, trainer.spec(max_trials=1))  # the same study, a shorter trainer this time
    assert [(t.trial_id, t.state, t.params) for t in result.trials] == [("1", "COMPLETE", interrupted.params)]
    assert (output / "1" / "done").exists()


def test_resuming_with_another_spec_is_refused(tmp_path, trainer):
    output = tmp_path / "out"
    run(trainer, output, trainer.spec(max_trials=1))
    with pytest.raises(ValueError, match=r"The study 'out' in .*study\.journal was made for another metric, goal or "
                                         r"space\. Expected \{'metric': 'rmse', 'goal': 'MAXIMIZE'.*Received: stored="
                                         r"\{'metric': 'rmse', 'goal': 'MINIMIZE'.* Use a new output directory"):
        run(trainer, output, trainer.spec(max_trials=1, goal="MAXIMIZE"))


def test_cli_bad_input(tmp_path, trainer, capsys):
    config = write_config(tmp_path, trainer.spec(params=[{"parameterName": "x", "type": "FLOAT"}]))
    assert main(["tune", "--config", config, "--output_dir", str(tmp_path / "o"), "--", "python", "t.py"]) == 1
    assert ("error: Unknown type of parameter 'x'. Expected one of ('DOUBLE', 'INTEGER', 'CATEGORICAL', 'DISCRETE'). "
            "Received: type='FLOAT'. Fix the type.") in capsys.readouterr().err
    assert main(["tune", "--config", config, "--output_dir", str(tmp_path / "o")]) == 1
    assert "error: No trainer command. Expected a command after --" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("trainingInput: [unclosed")
    assert main(["tune", "--config", str(tmp_path / "bad.yaml"), "--output_dir", "o", "--", "python"]) == 1
    assert "error: The tuning config is not valid YAML. Expected AI Platform's hyperparam.yaml" in (
        capsys.readouterr().err)
