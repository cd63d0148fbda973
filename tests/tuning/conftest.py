"""Helpers for the tuner's tests: the model-less trainer command and its study spec."""

from __future__ import annotations

import pathlib
import sys

import pytest

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
