"""The search space and study settings, in AI Platform's ``trainingInput.hyperparameters`` format.

The course tuned its models with a ``hyperparam.yaml`` like::

    trainingInput:
      hyperparameters:
        goal: MINIMIZE
        maxTrials: 5
        maxParallelTrials: 1
        hyperparameterMetricTag: rmse
        params:
        - parameterName: batch_size
          type: INTEGER
          minValue: 8
          maxValue: 64
          scaleType: UNIT_LINEAR_SCALE

:func:`read_hyperparameters` validates such a mapping into a :class:`HyperparameterSpec`
(every problem reported at once), and :func:`suggest` asks an Optuna trial for one value of
each parameter: DOUBLE -> ``suggest_float``, INTEGER -> ``suggest_int``, CATEGORICAL and
DISCRETE -> ``suggest_categorical`` (DISCRETE values sorted). ``UNIT_LOG_SCALE`` samples on a
log scale; ``UNIT_REVERSE_LOG_SCALE`` has no Optuna counterpart and is rejected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from torch_estimator.errors import message

TYPES = ("DOUBLE", "INTEGER", "CATEGORICAL", "DISCRETE")
SCALES = ("UNIT_LINEAR_SCALE", "UNIT_LOG_SCALE")
GOALS = ("MINIMIZE", "MAXIMIZE")
_PARAM_KEYS = {"parameterName", "type", "minValue", "maxValue", "categoricalValues", "discreteValues", "scaleType"}


class SpecError(ValueError):
    """A hyperparameter spec is invalid; the message lists every problem."""


@dataclasses.dataclass(frozen=True)
class ParameterSpec:
    """One tuned parameter (AI Platform's ``ParameterSpec``).

    Attributes:
        name: ``parameterName``: the flag name (``--name=value``) and the key in ``params``.
        type: DOUBLE, INTEGER, CATEGORICAL or DISCRETE.
        min_value: ``minValue`` (DOUBLE and INTEGER).
        max_value: ``maxValue`` (DOUBLE and INTEGER).
        values: ``categoricalValues`` (strings) or ``discreteValues`` (numbers).
        scale_type: UNIT_LINEAR_SCALE (default) or UNIT_LOG_SCALE (DOUBLE and INTEGER).
    """

    name: str
    type: str
    min_value: float | None = None
    max_value: float | None = None
    values: tuple[Any, ...] = ()
    scale_type: str = "UNIT_LINEAR_SCALE"

    def __post_init__(self) -> None:
        problems = _parameter_problems(self)
        if problems:
            raise SpecError(" ".join(problems))


@dataclasses.dataclass(frozen=True)
class HyperparameterSpec:
    """A whole study (AI Platform's ``HyperparameterSpec``).

    Attributes:
        params: The parameters, in order.
        metric_tag: ``hyperparameterMetricTag``: the evaluation metric to optimize (e.g. ``rmse``).
        goal: MINIMIZE or MAXIMIZE.
        max_trials: ``maxTrials``: trials in the study, over every run that resumes it.
        max_parallel_trials: ``maxParallelTrials``: trials run at once by one tuner.
        early_stopping: ``enableTrialEarlyStopping``: prune unpromising trials (default True).
    """

    params: tuple[ParameterSpec, ...]
    metric_tag: str
    goal: str = "MINIMIZE"
    max_trials: int = 1
    max_parallel_trials: int = 1
    early_stopping: bool = True

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.metric_tag, str) or not self.metric_tag:
            problems.append(message("The metric tag is missing", expected="hyperparameterMetricTag: the name of "
                                    "an evaluation metric, e.g. rmse", fix="Add hyperparameterMetricTag",
                                    hyperparameterMetricTag=self.metric_tag))
        if self.goal not in GOALS:
            problems.append(message("Unknown goal", expected=f"one of {GOALS}", fix="Fix goal", goal=self.goal))
        for key, value in (("maxTrials", self.max_trials), ("maxParallelTrials", self.max_parallel_trials)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(message(f"{key} must be a positive integer", expected="an integer >= 1",
                                        fix=f"Fix {key}", **{key: value}))
        if not self.params:
            problems.append(message("No parameter to tune", expected="a non-empty params list",
                                    fix="List the parameters under params", params=self.params))
        names = [param.name for param in self.params]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            problems.append(message("Parameter names must be unique", expected="each parameterName once",
                                    fix="Remove the duplicates", duplicates=duplicates))
        if problems:
            raise SpecError(" ".join(problems))


def read_hyperparameters(config: Mapping[str, Any]) -> HyperparameterSpec:
    """Validates AI Platform's hyperparameter spec (or a whole ``trainingInput`` job config).

    Args:
        config: ``{"trainingInput": {"hyperparameters": {...}}}``, ``{"hyperparameters": {...}}``
            or the ``hyperparameters`` mapping itself (as loaded from ``hyperparam.yaml``).

    Returns:
        The :class:`HyperparameterSpec`.

    Raises:
        SpecError: a ``ValueError`` listing every problem (unknown type, min > max, log scale
            with min <= 0, missing metric tag, ...).

    Example:
        >>> spec = read_hyperparameters({"goal": "MINIMIZE", "maxTrials": 5, "hyperparameterMetricTag": "rmse",
        ...     "params": [{"parameterName": "learning_rate", "type": "DOUBLE", "minValue": 0.01,
        ...                 "maxValue": 0.1, "scaleType": "UNIT_LOG_SCALE"}]})
        >>> spec.max_trials, spec.params[0].scale_type
        (5, 'UNIT_LOG_SCALE')
    """
    if not isinstance(config, Mapping):
        raise SpecError(message("A hyperparameter spec must be a mapping", expected="trainingInput.hyperparameters "
                                "as in AI Platform's hyperparam.yaml", fix="Pass the parsed YAML/JSON mapping",
                                config=config))
    config = config.get("trainingInput", config)
    config = config.get("hyperparameters", config)
    problems, params = [], []
    raw_params = config.get("params") or []
    if not isinstance(raw_params, Sequence) or isinstance(raw_params, str):
        raw_params = [raw_params]
    for raw in raw_params:
        try:
            params.append(parameter_from_mapping(raw))
        except SpecError as error:
            problems.append(str(error))
    try:
        spec = HyperparameterSpec(
            tuple(params), config.get("hyperparameterMetricTag"), config.get("goal", "MINIMIZE"),
            config.get("maxTrials", 1), config.get("maxParallelTrials", 1),
            bool(config.get("enableTrialEarlyStopping", True)))
    except SpecError as error:
        problems.append(str(error))
    if problems:
        raise SpecError(" ".join(problems))
    return spec


def parameter_from_mapping(raw: Any) -> ParameterSpec:
    """One ``params`` entry (``parameterName``, ``type``, ...) as a :class:`ParameterSpec`."""
    if not isinstance(raw, Mapping):
        raise SpecError(message("A params entry must be a mapping", expected="parameterName, type, ...",
                                fix="Write each parameter as a mapping", param=raw))
    unknown = sorted(set(raw) - _PARAM_KEYS)
    if unknown:
        raise SpecError(message("Unknown keys in a params entry", expected=f"keys among {sorted(_PARAM_KEYS)}",
                                fix="Fix their spelling", parameterName=raw.get("parameterName"), unknown=unknown))
    values = raw.get("categoricalValues") if raw.get("type") == "CATEGORICAL" else raw.get("discreteValues")
    return ParameterSpec(raw.get("parameterName"), raw.get("type"), raw.get("minValue"), raw.get("maxValue"),
                         tuple(values or ()), raw.get("scaleType") or "UNIT_LINEAR_SCALE")


def suggest(trial: Any, params: Sequence[ParameterSpec]) -> dict[str, Any]:
    """Asks an Optuna trial for one value of each parameter; returns ``{name: value}``."""
    values = {}
    for param in params:
        log = param.scale_type == "UNIT_LOG_SCALE"
        if param.type == "DOUBLE":
            values[param.name] = trial.suggest_float(param.name, param.min_value, param.max_value, log=log)
        elif param.type == "INTEGER":
            values[param.name] = trial.suggest_int(param.name, int(param.min_value), int(param.max_value), log=log)
        elif param.type == "DISCRETE":
            values[param.name] = trial.suggest_categorical(param.name, sorted(param.values))
        else:
            values[param.name] = trial.suggest_categorical(param.name, list(param.values))
    return values


def _parameter_problems(param: ParameterSpec) -> list[str]:
    name = param.name
    if not isinstance(name, str) or not name.isidentifier():
        return [message("A parameter needs a parameterName", expected="an identifier (it becomes --name=value)",
                        fix="Set parameterName", parameterName=name)]
    if param.type not in TYPES:
        return [message(f"Unknown type of parameter {name!r}", expected=f"one of {TYPES}",
                        fix="Fix the type", type=param.type)]
    if param.type in ("CATEGORICAL", "DISCRETE"):
        return _value_list_problems(param)
    return _range_problems(param)


def _range_problems(param: ParameterSpec) -> list[str]:
    name, low, high = param.name, param.min_value, param.max_value
    problems = []
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
        return [message(f"Parameter {name!r} of type {param.type} needs minValue and maxValue",
                        expected="two numbers", fix="Set minValue and maxValue", minValue=low, maxValue=high)]
    if param.type == "INTEGER" and not (float(low).is_integer() and float(high).is_integer()):
        problems.append(message(f"INTEGER parameter {name!r} needs integer bounds", expected="whole numbers",
                                fix="Round the bounds, or make it DOUBLE", minValue=low, maxValue=high))
    if low > high:
        problems.append(message(f"Parameter {name!r} has minValue > maxValue", expected="minValue <= maxValue",
                                fix="Swap or fix the bounds", minValue=low, maxValue=high))
    if param.scale_type not in SCALES:
        problems.append(message(f"Unsupported scaleType of parameter {name!r}", expected=f"one of {SCALES} "
                                "(UNIT_REVERSE_LOG_SCALE has no Optuna counterpart)",
                                fix="Use UNIT_LINEAR_SCALE or UNIT_LOG_SCALE", scaleType=param.scale_type))
    elif param.scale_type == "UNIT_LOG_SCALE" and low <= 0:
        problems.append(message(f"Parameter {name!r} has a log scale but minValue <= 0",
                                expected="minValue > 0 with UNIT_LOG_SCALE",
                                fix="Raise minValue above 0, or use UNIT_LINEAR_SCALE", minValue=low))
    return problems


def _value_list_problems(param: ParameterSpec) -> list[str]:
    name, values = param.name, param.values
    key = "categoricalValues" if param.type == "CATEGORICAL" else "discreteValues"
    if not values:
        return [message(f"{param.type} parameter {name!r} has no values", expected=f"a non-empty {key} list",
                        fix=f"List the values under {key}", **{key: list(values)})]
    if param.type == "CATEGORICAL" and not all(isinstance(v, str) for v in values):
        return [message(f"CATEGORICAL parameter {name!r} takes strings", expected="categoricalValues of strings",
                        fix="Quote the values, or use DISCRETE for numbers", categoricalValues=list(values))]
    if param.type == "DISCRETE" and not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                            for v in values):
        return [message(f"DISCRETE parameter {name!r} takes numbers", expected="discreteValues of numbers",
                        fix="Use CATEGORICAL for strings", discreteValues=list(values))]
    if len(set(values)) != len(values):
        return [message(f"Parameter {name!r} lists a value twice", expected=f"distinct {key}",
                        fix="Remove the duplicates", **{key: list(values)})]
    return []
