"""What a study produced: every trial, best first, and the best trial's parameters, metric and export."""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

STATE_ORDER = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "WAITING": 3, "FAIL": 4}


@dataclasses.dataclass(frozen=True)
class TrialResult:
    """One trial.

    Attributes:
        trial_id: The id given to the trainer (``TF_CONFIG["task"]["trial"]``, AI Platform's
            1-based ids) and the name of its ``model_dir`` under the output directory.
        number: Optuna's trial number (0-based).
        state: COMPLETE, PRUNED, FAIL, RUNNING or WAITING.
        params: The parameter values.
        value: The metric of the last evaluation (None unless COMPLETE).
        intermediate_values: Global step -> metric, for every evaluation reported.
        model_dir: The trial's model directory.
        export_path: Its newest export directory (None when it exported nothing).
        failure: Why it failed (FAIL only).
    """

    trial_id: str
    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    intermediate_values: dict[int, float]
    model_dir: str | None
    export_path: str | None
    failure: str | None = None


@dataclasses.dataclass(frozen=True)
class TuningResult:
    """A finished study.

    Attributes:
        study_name: The Optuna study name.
        storage: Where the study lives (journal path or database URL, password hidden).
        metric: The metric tag.
        goal: MINIMIZE or MAXIMIZE.
        trials: Every trial: completed ones best first, then pruned, running and failed ones.
        best: The best completed trial, or None if none completed.
        summary_files: The summary table and plots written to the output directory.
    """

    study_name: str
    storage: str
    metric: str
    goal: str
    trials: tuple[TrialResult, ...]
    best: TrialResult | None
    summary_files: tuple[str, ...] = ()

    @property
    def best_params(self) -> dict[str, Any] | None:
        return None if self.best is None else self.best.params

    @property
    def best_value(self) -> float | None:
        return None if self.best is None else self.best.value

    @property
    def best_export_path(self) -> str | None:
        return None if self.best is None else self.best.export_path


def trial_result(frozen: Any) -> TrialResult:
    """A :class:`TrialResult` from an Optuna ``FrozenTrial`` (attributes set by the tuner)."""
    attrs = frozen.user_attrs
    model_dir = attrs.get("model_dir")
    return TrialResult(
        trial_id=str(attrs.get("trial_id", frozen.number + 1)), number=frozen.number, state=frozen.state.name,
        params=dict(frozen.params), value=frozen.value if frozen.state.name == "COMPLETE" else None,
        intermediate_values=dict(sorted(frozen.intermediate_values.items())), model_dir=model_dir,
        export_path=newest_export(model_dir) if model_dir else None, failure=attrs.get("failure"))


def sort_trials(trials: list[TrialResult], goal: str) -> tuple[TrialResult, ...]:
    """Completed trials best first (by ``goal``), then the others by state and number."""
    sign = 1.0 if goal == "MINIMIZE" else -1.0

    def key(trial: TrialResult) -> tuple:
        value = trial.value if trial.value is not None and not math.isnan(trial.value) else math.inf
        return (STATE_ORDER.get(trial.state, 5), sign * value if trial.state == "COMPLETE" else 0.0, trial.number)

    return tuple(sorted(trials, key=key))


def newest_export(model_dir: str) -> str | None:
    """The newest ``model_dir/export/<exporter>/<timestamp>`` directory, or None."""
    base = os.path.join(model_dir, "export")
    try:
        exporters = [os.path.join(base, name) for name in os.listdir(base)]
    except FileNotFoundError:
        return None
    exports = []
    for exporter in exporters:
        if os.path.isdir(exporter):
            # Timestamped names only: an export being written has a temporary name.
            exports.extend((int(name), os.path.join(exporter, name)) for name in os.listdir(exporter)
                           if name.isdigit() and os.path.isdir(os.path.join(exporter, name)))
    return max(exports)[1] if exports else None
