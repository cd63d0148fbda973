"""Hyperparameter tuning from evaluation metrics, on Optuna (``pip install torch-estimator[tuning]``).

* :func:`tune`: ``est.tuning.tune(trial_fn, space, output_dir=..., metric="rmse", goal="MINIMIZE",
  max_trials=10)``; each trial runs ``trial_fn(params, model_dir)`` in a process of its own.
* The course's way, a trainer module and AI Platform's ``hyperparam.yaml``:
  ``torch-estimator tune --config hyperparam.yaml --output_dir DIR -- python -m trainer.task ...``
  (:mod:`torch_estimator.cli.tune`).
* ``space``: :func:`read_hyperparameters` (AI Platform's spec), :class:`ParameterSpec`.
* ``storage``: a journal file in the output directory by default, or a database URL.

Importing this package does not import Optuna; running a study does.
"""

from torch_estimator.tuning.report import format_table
from torch_estimator.tuning.result import TrialResult, TuningResult
from torch_estimator.tuning.space import HyperparameterSpec, ParameterSpec, SpecError, read_hyperparameters
from torch_estimator.tuning.study import run_study, tune
from torch_estimator.tuning.trainer import command_launcher, function_launcher

__all__ = ["HyperparameterSpec", "ParameterSpec", "SpecError", "TrialResult", "TuningResult", "command_launcher",
           "format_table", "function_launcher", "read_hyperparameters", "run_study", "tune"]
