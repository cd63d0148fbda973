"""AI Platform's hyperparameter spec: parsing, every validation message, and the Optuna distributions."""

from __future__ import annotations

import ast
import json
import pathlib
import sys

import optuna
import pytest

import torch_estimator
from torch_estimator.tuning import HyperparameterSpec, ParameterSpec, SpecError, read_hyperparameters
from torch_estimator.tuning.space import suggest
from torch_estimator.tuning.study import import_optuna

LAB = {"trainingInput": {"scaleTier": "STANDARD_1", "hyperparameters": {
    "goal": "MINIMIZE", "maxTrials": 5, "maxParallelTrials": 1, "hyperparameterMetricTag": "rmse",
    "params": [{"parameterName": "batch_size", "type": "INTEGER", "minValue": 8, "maxValue": 64,
                "scaleType": "UNIT_LINEAR_SCALE"},
               {"parameterName": "learning_rate", "type": "DOUBLE", "minValue": 0.01, "maxValue": 0.1,
                "scaleType": "UNIT_LOG_SCALE"}]}}}


def hyperparameters(*params: dict, **fields) -> dict:
    return {"hyperparameterMetricTag": "rmse", "params": list(params), **fields}


def test_reads_the_labs_job_config():
    spec = read_hyperparameters(LAB)
    assert (spec.goal, spec.max_trials, spec.max_parallel_trials, spec.metric_tag, spec.early_stopping) == (
        "MINIMIZE", 5, 1, "rmse", True)
    assert spec.params == (ParameterSpec("batch_size", "INTEGER", 8, 64),
                           ParameterSpec("learning_rate", "DOUBLE", 0.01, 0.1, scale_type="UNIT_LOG_SCALE"))
    # The hyperparameters mapping alone works too; enableTrialEarlyStopping turns pruning off.
    alone = read_hyperparameters({**LAB["trainingInput"]["hyperparameters"], "enableTrialEarlyStopping": False})
    assert alone.params == spec.params and not alone.early_stopping


def test_each_type_maps_to_an_optuna_distribution():
    spec = read_hyperparameters(hyperparameters(
        {"parameterName": "lr", "type": "DOUBLE", "minValue": 1e-4, "maxValue": 1e-1, "scaleType": "UNIT_LOG_SCALE"},
        {"parameterName": "units", "type": "INTEGER", "minValue": 8, "maxValue": 64, "scaleType": "UNIT_LOG_SCALE"},
        {"parameterName": "dropout", "type": "DOUBLE", "minValue": 0.0, "maxValue": 0.5},
        {"parameterName": "optimizer", "type": "CATEGORICAL", "categoricalValues": ["Adam", "SGD"]},
        {"parameterName": "layers", "type": "DISCRETE", "discreteValues": [4, 1, 2]}))
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    values = suggest(trial, spec.params)
    D = optuna.distributions
    assert trial.distributions == {"lr": D.FloatDistribution(1e-4, 1e-1, log=True),
                                   "units": D.IntDistribution(8, 64, log=True),
                                   "dropout": D.FloatDistribution(0.0, 0.5),
                                   "optimizer": D.CategoricalDistribution(["Adam", "SGD"]),
                                   "layers": D.CategoricalDistribution([1, 2, 4])}
    assert 1e-4 <= values["lr"] <= 0.1 and isinstance(values["units"], int) and values["layers"] in (1, 2, 4)


@pytest.mark.parametrize("param, expected", [
    ({"parameterName": "x", "type": "FLOAT", "minValue": 0, "maxValue": 1},
     "Unknown type of parameter 'x'. Expected one of ('DOUBLE', 'INTEGER', 'CATEGORICAL', 'DISCRETE'). "
     "Received: type='FLOAT'. Fix the type."),
    ({"parameterName": "x", "type": "DOUBLE", "minValue": 2, "maxValue": 1},
     "Parameter 'x' has minValue > maxValue. Expected minValue <= maxValue. Received: minValue=2, maxValue=1. "
     "Swap or fix the bounds."),
    ({"parameterName": "lr", "type": "DOUBLE", "minValue": 0, "maxValue": 1, "scaleType": "UNIT_LOG_SCALE"},
     "Parameter 'lr' has a log scale but minValue <= 0. Expected minValue > 0 with UNIT_LOG_SCALE. "
     "Received: minValue=0. Raise minValue above 0, or use UNIT_LINEAR_SCALE."),
    ({"parameterName": "lr", "type": "DOUBLE", "minValue": 0.1, "maxValue": 1, "scaleType": "UNIT_REVERSE_LOG_SCALE"},
     "Unsupported scaleType of parameter 'lr'. Expected one of ('UNIT_LINEAR_SCALE', 'UNIT_LOG_SCALE') "
     "(UNIT_REVERSE_LOG_SCALE has no Optuna counterpart). Received: scaleType='UNIT_REVERSE_LOG_SCALE'."),
    ({"parameterName": "n", "type": "INTEGER", "minValue": 1.5, "maxValue": 4},
     "INTEGER parameter 'n' needs integer bounds. Expected whole numbers. Received: minValue=1.5, maxValue=4."),
    ({"parameterName": "n", "type": "INTEGER", "maxValue": 4},
     "Parameter 'n' of type INTEGER needs minValue and maxValue. Expected two numbers. "
     "Received: minValue=None, maxValue=4."),
    ({"parameterName": "opt", "type": "CATEGORICAL"},
     "CATEGORICAL parameter 'opt' has no values. Expected a non-empty categoricalValues list. "
     "Received: categoricalValues=[]."),
    ({"parameterName": "opt", "type": "CATEGORICAL", "categoricalValues": [1, 2]},
     "CATEGORICAL parameter 'opt' takes strings. Expected categoricalValues of strings."),
    ({"parameterName": "k", "type": "DISCRETE", "discreteValues": ["a"]},
     "DISCRETE parameter 'k' takes numbers. Expected discreteValues of numbers."),
    ({"parameterName": "k", "type": "DISCRETE", "discreteValues": [1, 1]},
     "Parameter 'k' lists a value twice. Expected distinct discreteValues. Received: discreteValues=[1, 1]."),
    ({"type": "DOUBLE", "minValue": 0, "maxValue": 1},
     "A parameter needs a parameterName. Expected an identifier (it becomes --name=value). "
     "Received: parameterName=None."),
    ({"parameterName": "x", "type": "DOUBLE", "min": 0, "maxValue": 1},
     "Unknown keys in a params entry. Expected keys among ['categoricalValues', 'discreteValues', 'maxValue', "
     "'minValue', 'parameterName', 'scaleType', 'type']. Received: parameterName='x', unknown=['min']."),
])
def test_invalid_parameter_messages(param, expected):
    with pytest.raises(SpecError) as error:
        read_hyperparameters(hyperparameters(param))
    assert expected in str(error.value)


def test_invalid_study_fields_are_reported_together():
    bad = {"goal": "LOWER", "maxTrials": 0, "params": [
        {"parameterName": "x", "type": "DOUBLE", "minValue": 1, "maxValue": 0},
        {"parameterName": "y", "type": "STRING"}]}
    with pytest.raises(ValueError) as error:
        read_hyperparameters(bad)
    text = str(error.value)
    for expected in ("Parameter 'x' has minValue > maxValue.", "Unknown type of parameter 'y'.",
                     "The metric tag is missing. Expected hyperparameterMetricTag: the name of an evaluation "
                     "metric, e.g. rmse. Received: hyperparameterMetricTag=None. Add hyperparameterMetricTag.",
                     "Unknown goal. Expected one of ('MINIMIZE', 'MAXIMIZE'). Received: goal='LOWER'.",
                     "maxTrials must be a positive integer. Expected an integer >= 1. Received: maxTrials=0."):
        assert expected in text
    with pytest.raises(SpecError, match=r"Parameter names must be unique\. .* Received: duplicates=\['x'\]"):
        HyperparameterSpec((ParameterSpec("x", "DOUBLE", 0, 1), ParameterSpec("x", "DOUBLE", 0, 1)), "rmse")
    with pytest.raises(SpecError, match=r"No parameter to tune\. Expected a non-empty params list"):
        read_hyperparameters({"hyperparameterMetricTag": "rmse"})
    with pytest.raises(SpecError, match=r"A hyperparameter spec must be a mapping"):
        read_hyperparameters(["rmse"])


def test_no_module_of_the_package_imports_optuna_at_import_time():
    """``import torch_estimator`` must work without the tuning extra: Optuna is imported inside functions."""
    package = pathlib.Path(torch_estimator.__file__).parent
    top_level = []
    for path in package.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:  # module-level statements only
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            top_level += [f"{path.relative_to(package)}: {name}" for name in names
                          if name.split(".")[0] in ("optuna", "yaml", "matplotlib", "sqlalchemy")]
    assert top_level == []


def test_missing_optuna_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now raises ImportError
    with pytest.raises(ImportError, match=r"Hyperparameter tuning needs Optuna\. Expected the tuning extra\. "
                                          r"Received: module='optuna'\. pip install torch-estimator\[tuning\]\."):
        import_optuna()


def test_trial_id_travels_in_tf_config():
    from torch_estimator.distributed.trial import read_trial_id, trial_environment

    cluster = '{"cluster": {"chief": ["h:1"]}, "task": {"type": "chief", "index": 0}}'
    env = trial_environment("7", {"TF_CONFIG": cluster, "HOME": "/root"})
    assert env["HOME"] == "/root" and read_trial_id(env) == "7"
    assert json.loads(env["TF_CONFIG"]) == {"cluster": {"chief": ["h:1"]}, "task": {"type": "chief", "index": 0,
                                                                                      "trial": "7"}}
    assert read_trial_id({}) == ""
    with pytest.raises(ValueError, match=r"TF_CONFIG is not a JSON object\. Expected JSON like .* "
                                         r"Received: TF_CONFIG='\{bad'\. Fix the TF_CONFIG environment variable\."):
        read_trial_id({"TF_CONFIG": "{bad"})
