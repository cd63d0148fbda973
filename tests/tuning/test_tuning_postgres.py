"""A study shared through a real PostgreSQL server (the ``postgres_url`` fixture, :mod:`.servers`), as tuners
on several machines share one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import optuna
import pytest

from torch_estimator.tuning import command_launcher, read_hyperparameters, run_study


def check_shared_study(url: str, name: str, trials: int) -> list:
    """The study has ``trials`` completed trials, each run once, in a model_dir of its own."""
    study = optuna.load_study(study_name=name, storage=url.replace("postgresql://", "postgresql+psycopg://"))
    assert sorted(t.number for t in study.trials) == list(range(trials))
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    dirs = [t.user_attrs["model_dir"] for t in study.trials]
    assert len(set(dirs)) == trials and all(os.path.exists(os.path.join(d, "done")) for d in dirs)
    return study.trials


def test_two_tuners_share_one_study_through_postgres(postgres_url, tmp_path, trainer):
    """Two tuners (threads here, each with its own connection pool and output dir) fill one study of 4 trials."""
    spec = read_hyperparameters(trainer.spec(max_trials=4))
    results = {}

    def tuner(machine: str) -> None:
        output = str(tmp_path / machine)
        results[machine] = run_study(spec, command_launcher(trainer.command(output, "--sleep=0.1")), output,
                                     storage=postgres_url, study_name="shared", poll_seconds=0.05)

    threads = [threading.Thread(target=tuner, args=(machine,)) for machine in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    trials = check_shared_study(postgres_url, "shared", 4)
    by_machine = {machine: [t for t in trials if t.user_attrs["model_dir"].startswith(str(tmp_path / machine))]
                  for machine in ("a", "b")}
    assert all(by_machine.values()), "each tuner ran at least one trial"
    assert set(results) == {"a", "b"} and all(r.best is not None for r in results.values())


@pytest.mark.slow
def test_two_tuner_processes_share_one_study_through_postgres(postgres_url, tmp_path, trainer):
    """As above with two ``torch-estimator tune`` processes, as on two machines."""
    config = tmp_path / "hyperparam.yaml"
    config.write_text(json.dumps({"trainingInput": {"hyperparameters": trainer.spec(max_trials=4)}}))
    tuners = []
    for machine in ("a", "b"):
        output = tmp_path / machine
        tuners.append(subprocess.Popen(
            [sys.executable, "-m", "torch_estimator.cli.main", "tune", "--config", str(config), "--output_dir",
             str(output), "--storage", postgres_url, "--study_name", "processes", "--",
             *trainer.command(output, "--sleep=0.2")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [tuner.communicate(timeout=240)[0] for tuner in tuners]
    assert [tuner.returncode for tuner in tuners] == [0, 0], outputs
    check_shared_study(postgres_url, "processes", 4)
    assert all("Best trial" in output for output in outputs)


def test_run_study_on_postgres_resumes(postgres_url, tmp_path, trainer):
    spec = read_hyperparameters(trainer.spec(max_trials=1))
    launch = command_launcher(trainer.command(tmp_path))
    first = run_study(spec, launch, str(tmp_path), storage=postgres_url, study_name="resumed", poll_seconds=0.05)
    assert first.storage == postgres_url.replace("postgresql://", "postgresql+psycopg://")
    spec = read_hyperparameters(trainer.spec(max_trials=2))
    second = run_study(spec, launch, str(tmp_path), storage=postgres_url, study_name="resumed", poll_seconds=0.05)
    assert sorted(t.trial_id for t in second.trials) == ["1", "2"] and first.trials[0] in second.trials

