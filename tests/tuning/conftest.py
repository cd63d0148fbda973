"""Helpers for the tuner's tests: the model-less trainer command and its study spec."""

from __future__ import annotations

import pathlib
import sys
import threading

import pytest

from .servers import mariadb_server, postgres_server

FAKE_TRAINER = pathlib.Path(__file__).resolve().parent / "fake_trainer.py"


def fake_command(output_dir, *flags: str) -> list[str]:
    """``python fake_trainer.py --output_dir DIR ...``: the trainer module of these tests."""
    return [sys.executable, str(FAKE_TRAINER), "--output_dir", str(output_dir), *flags]


def hyperparameters(max_trials: int = 2, parallel: int = 1, kinds: tuple[str, ...] = ("a", "b"), **overrides) -> dict:
    """AI Platform's hyperparameters mapping over x (DOUBLE) and kind (CATEGORICAL: ``kinds``)."""
    spec = {"goal": "MINIMIZE", "maxTrials": max_trials, "maxParallelTrials": parallel,
            "hyperparameterMetricTag": "rmse",
            "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0.0, "maxValue": 1.0},
                       {"parameterName": "kind", "type": "CATEGORICAL", "categoricalValues": list(kinds)}]}
    spec.update(overrides)
    return spec


def enqueue(output_dir, *params: dict) -> None:
    """Creates the study a tuner on ``output_dir`` resumes, with ``params`` as its next trials (in order)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    pathlib.Path(output_dir).mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(pathlib.Path(output_dir) / "study.journal")))
    study = optuna.create_study(storage=storage, study_name=pathlib.Path(output_dir).name, load_if_exists=True)
    for values in params:
        study.enqueue_trial(values)


@pytest.fixture
def trainer():
    """The helpers as one fixture: ``trainer.command(dir, ...)``, ``trainer.spec(...)``, ``trainer.enqueue(...)``."""

    class Helpers:
        command = staticmethod(fake_command)
        spec = staticmethod(hyperparameters)
        enqueue = staticmethod(enqueue)

    return Helpers


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server's URL (started on first use, stopped at the end of the run)."""
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def mysql_url():
    """A throwaway MariaDB server's URL, for ``mysql+pymysql://`` (started on first use)."""
    with mariadb_server() as url:
        yield url


@pytest.fixture
def race_tuners(monkeypatch, tmp_path):
    """``race_tuners(storage, study_name, max_trials)``: two tuners (threads, each with its own storage
    object and output directory) of one study whose first counts of the started trials are forced
    to the same moment; returns the study's trials, as the tuner that finished last saw them.

    Both tuners start their first trial together (a first barrier); each, after counting, waits up
    to 2 s at a second one: without a lock across tuners both pass it, having both counted the same
    trials; with one, the other tuner is blocked on the lock, the barrier times out, and it counts
    after the first has asked for its trial.
    """
    from torch_estimator.tuning import command_launcher, read_hyperparameters, run_study
    from torch_estimator.tuning import study as study_module

    gate, barrier = threading.Barrier(2), threading.Barrier(2)
    start, count = study_module._Tuner._start_trial, study_module._Tuner._count_started

    def start_together(self):
        if not getattr(self, "raced", False):
            gate.wait(timeout=30)  # both tuners have made or loaded the study, and neither holds the lock
        return start(self)  # takes the study lock, then counts

    def count_together(self):
        started = count(self)
        if not getattr(self, "raced", False):
            self.raced = True
            try:
                barrier.wait(timeout=2.0)
            except threading.BrokenBarrierError:
                pass  # the other tuner is waiting for the lock this one holds
        return started

    monkeypatch.setattr(study_module._Tuner, "_start_trial", start_together)
    monkeypatch.setattr(study_module._Tuner, "_count_started", count_together)

    def race(storage: str, study_name: str, max_trials: int = 1) -> list:
        spec = read_hyperparameters(hyperparameters(max_trials=max_trials))
        results, errors = {}, []

        def tuner(machine: str) -> None:
            output = str(tmp_path / machine)
            try:
                results[machine] = run_study(spec, command_launcher(fake_command(output)), output, storage=storage,
                                             study_name=study_name, poll_seconds=0.05)
            except BaseException as error:  # re-raised below, in the test's thread
                errors.append(error)

        threads = [threading.Thread(target=tuner, args=(machine,)) for machine in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors, errors
        assert set(results) == {"a", "b"}
        return max((r.trials for r in results.values()), key=len)

    race.barrier = barrier
    return race
