"""``TrainSpec`` and ``EvalSpec``: what ``train_and_evaluate`` trains on and how it evaluates.

Frozen dataclasses with TensorFlow's fields, defaults and rules, validated in ``__post_init__``
with every problem reported at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from torch_estimator.errors import InvalidSpecError
from torch_estimator.export.exporters import Exporter, check_exporter_name


_HOOK_METHODS = ("begin", "before_run", "after_run", "end")
_LISTENER_METHODS = ("begin", "before_save", "after_save", "end")


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """How ``train_and_evaluate`` trains (TensorFlow's ``tf.estimator.TrainSpec``).

    Args:
        input_fn: The training ``input_fn``. It is not expected to end: ``max_steps`` is the
            reliable stop condition (an input that ends also ends training).
        max_steps: Absolute global step to train to; ``None`` trains until the input ends.
        hooks: ``SessionRunHook``s for training (early-stopping hooks go here).
        saving_listeners: ``CheckpointSaverListener``s called around each checkpoint save.

    Raises:
        InvalidSpecError: (a ValueError and a TypeError) listing every invalid field.

    Example:
        >>> from torch_estimator.training import TrainSpec
        >>> spec = TrainSpec(lambda: ({"x": [[1.0]]}, [[1.0]]), max_steps=100)
        >>> spec.max_steps, spec.hooks
        (100, ())
        >>> spec.replace(max_steps=200).max_steps
        200
    """

    input_fn: Callable
    max_steps: int | None = None
    hooks: tuple = ()
    saving_listeners: tuple = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "hooks", _as_tuple(self.hooks))
        object.__setattr__(self, "saving_listeners", _as_tuple(self.saving_listeners))
        problems = [_callable_problem("input_fn", self.input_fn),
                    _positive_problem("max_steps", self.max_steps, "training until the input ends"),
                    *_members_problems("hooks", self.hooks, _HOOK_METHODS, "est.SessionRunHook"),
                    *_members_problems("saving_listeners", self.saving_listeners, _LISTENER_METHODS,
                                       "est.CheckpointSaverListener")]
        _raise_if_any("TrainSpec", problems)

    def replace(self, **changes: Any) -> TrainSpec:
        """A copy with ``changes``, validated again."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class EvalSpec:
    """How ``train_and_evaluate`` evaluates and exports (TensorFlow's ``tf.estimator.EvalSpec``).

    By default (TensorFlow's schedule) an evaluation follows a checkpoint save once at least
    ``throttle_secs`` have passed since the previous evaluation, and one more follows the end
    of training. ``every_n_steps`` replaces that schedule with one counted in training steps.

    Args:
        input_fn: The evaluation ``input_fn``; called again for each evaluation.
        steps: Batches per evaluation; ``None`` reads the input to its end.
        name: Evaluation name: results go to ``model_dir/eval_<name>`` (``model_dir/eval``
            when None), e.g. to keep evaluations on different data apart.
        hooks: ``SessionRunHook``s for each evaluation.
        exporters: One :class:`~torch_estimator.export.exporters.Exporter` or an iterable of
            them, run after each evaluation; names must be unique (each is a directory under
            ``model_dir/export``).
        start_delay_secs: Delay before a separate evaluator process starts (distributed
            runs). Ignored by a local ``train_and_evaluate``, as in TensorFlow.
        throttle_secs: Minimum seconds between two checkpoint-triggered evaluations; 0
            evaluates every checkpoint. The end-of-training evaluation is never throttled.
        every_n_steps: Beyond TensorFlow: evaluate when the global step is a multiple of this,
            with the weights in memory, independently of when checkpoints are written
            (``throttle_secs`` is then ignored; the end of training is still evaluated). With exporters, a checkpoint is written for each such evaluation
            that has none at its step, so that exports, ``BestExporter``'s record and the
            evaluation log all name a checkpoint holding exactly the evaluated weights.

    Raises:
        InvalidSpecError: (a ValueError and a TypeError) listing every invalid field.

    Example:
        >>> from torch_estimator.training import EvalSpec
        >>> spec = EvalSpec(lambda: ({"x": [[1.0]]}, [[1.0]]), steps=None, throttle_secs=0)
        >>> spec.steps, spec.exporters, spec.throttle_secs
        (None, (), 0)
    """

    input_fn: Callable
    steps: int | None = 100
    name: str | None = None
    hooks: tuple = ()
    exporters: tuple = ()
    start_delay_secs: float = 120
    throttle_secs: float = 600
    every_n_steps: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "hooks", _as_tuple(self.hooks))
        exporters = self.exporters
        if exporters is not None and isinstance(exporters, Exporter) and not isinstance(exporters, (list, tuple)):
            exporters = (exporters,)  # TF accepts a single exporter
        object.__setattr__(self, "exporters", _as_tuple(exporters))
        problems = [_callable_problem("input_fn", self.input_fn),
                    _positive_problem("steps", self.steps, "the whole input"),
                    _name_problem(self.name),
                    *_members_problems("hooks", self.hooks, _HOOK_METHODS, "est.SessionRunHook"),
                    *_exporter_problems(self.exporters),
                    _non_negative_problem("start_delay_secs", self.start_delay_secs),
                    _non_negative_problem("throttle_secs", self.throttle_secs),
                    _positive_problem("every_n_steps", self.every_n_steps, "TensorFlow's checkpoint schedule")]
        _raise_if_any("EvalSpec", problems)

    def replace(self, **changes: Any) -> EvalSpec:
        """A copy with ``changes``, validated again."""
        return dataclasses.replace(self, **changes)


def _as_tuple(values: Any) -> Any:
    if values is None:
        return ()
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        return values  # left as is: reported by the member checks
    return tuple(values)


def _raise_if_any(spec: str, problems: list[str | None]) -> None:
    problems = [problem for problem in problems if problem]
    if problems:
        raise InvalidSpecError(f"Invalid {spec}:\n  - " + "\n  - ".join(problems))


def _callable_problem(name: str, value: Any) -> str | None:
    if callable(value):
        return None
    return (f"{name} must be callable. Expected a function returning (features, labels) batches. "
            f"Received: {name}={value!r}. Pass the function itself, not its result (no parentheses).")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_problem(name: str, value: Any, none_means: str) -> str | None:
    if value is None or (_is_int(value) and value > 0):
        return None
    return (f"Must specify {name} > 0. Expected a positive int, or None for {none_means}. "
            f"Received: {name}={value!r}.")


def _non_negative_problem(name: str, value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return None
    return f"Must specify {name} >= 0. Expected a number of seconds >= 0. Received: {name}={value!r}."


def _name_problem(name: Any) -> str | None:
    if name is None or isinstance(name, str):
        return None
    return (f"name must be a string or None. Received: name={name!r}. "
            "Pass e.g. name='validation' (results then go to model_dir/eval_validation).")


def _members_problems(field: str, values: Any, methods: tuple[str, ...], kind: str) -> list[str]:
    if not isinstance(values, tuple):
        return [f"{field} must be an iterable of {kind}s. Received: {field}={values!r}."]
    bad = [type(value).__name__ for value in values if not all(hasattr(value, m) for m in methods)]
    if not bad:
        return []
    return [f"All {field} must be {kind} instances. Expected objects with {'/'.join(methods)}. "
            f"Received: {field} of types {bad}. Subclass {kind}."]


def _exporter_problems(exporters: Any) -> list[str]:
    if not isinstance(exporters, tuple):
        return [f"exporters must be an Exporter, an iterable of Exporters, or None. Received: exporters={exporters!r}."]
    problems = []
    names: list[Any] = []
    for exporter in exporters:
        if not isinstance(exporter, Exporter):
            problems.append("exporters must be an Exporter, an iterable of Exporters, or None. Expected objects with "
                            "a name and export(estimator, export_path, checkpoint_path, eval_result, "
                            f"is_the_final_export). Received: {type(exporter).__name__}.")
            continue
        problem = check_exporter_name(exporter.name)
        if problem:
            problems.append(problem)
        names.append(exporter.name)
    repeated = sorted({name for name in names if names.count(name) > 1 and isinstance(name, str)})
    if repeated:
        problems.append(f"exporters must have unique names (each is a directory under model_dir/export). "
                        f"Received: names={names!r}, repeated={repeated!r}. Give each exporter its own name.")
    return problems
