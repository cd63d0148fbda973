"""The study's summary in the output directory: the trials table and two plots.

* ``trials.csv`` and ``trials.md``: one row per trial, completed trials best first;
* ``optimization_history.png``: each trial's metric and the best so far (Optuna's plot);
* ``param_importances.png``: how much each parameter explains the metric (Optuna's fANOVA
  importances). It needs at least two completed trials; with fewer, it is not drawn and the
  table says why.

The plots are PNG files drawn with matplotlib (no browser needed). Every file is written to
a temporary name and renamed.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import warnings
from typing import Any

from torch_estimator.durable import TEMPORARY_INFIX, write_text_atomically
from torch_estimator.tuning.result import TuningResult

logger = logging.getLogger("torch_estimator")

TABLE_CSV, TABLE_MD = "trials.csv", "trials.md"
HISTORY_PNG, IMPORTANCES_PNG = "optimization_history.png", "param_importances.png"


def rows(result: TuningResult) -> list[dict[str, Any]]:
    """The table: one dict per trial (trial id, state, metric, parameters, steps, export, failure)."""
    names = sorted({name for trial in result.trials for name in trial.params})
    table = []
    for trial in result.trials:
        row = {"trial": trial.trial_id, "state": trial.state, result.metric: trial.value}
        row.update({name: trial.params.get(name) for name in names})
        row["evaluations"] = len(trial.intermediate_values)
        row["export_path"] = trial.export_path or ""
        row["failure"] = (trial.failure or "").split("\n", 1)[0]
        table.append(row)
    return table


def format_table(result: TuningResult) -> str:
    """The table as Markdown, best trial first.

    Example:
        >>> from torch_estimator.tuning.result import TrialResult
        >>> trial = TrialResult("1", 0, "COMPLETE", {"lr": 0.1}, 2.5, {10: 2.5}, "/out/1", None)
        >>> print(format_table(TuningResult("s", "j", "rmse", "MINIMIZE", (trial,), trial)))
        | trial | state | rmse | lr | evaluations |
        | --- | --- | --- | --- | --- |
        | 1 | COMPLETE | 2.5 | 0.1 | 1 |
    """
    table = rows(result)
    if not table:
        return "(no trials)"
    # Columns empty in every row (no export, no failure) are left out of the printed table.
    columns = [c for c in table[0] if any(row[c] not in ("", None) for row in table) or c == result.metric]
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(_cell(row[c]) for c in columns) + " |" for row in table]
    return "\n".join(lines)


def write_summary(result: TuningResult, study: Any, output_dir: str) -> tuple[str, ...]:
    """Writes the tables and plots to ``output_dir``; returns the paths written."""
    table = rows(result)
    text = io.StringIO()
    if table:
        writer = csv.DictWriter(text, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    written = [os.path.join(output_dir, TABLE_CSV), os.path.join(output_dir, TABLE_MD)]
    write_text_atomically(written[0], text.getvalue())
    best = (f"Best trial: {result.best.trial_id}, {result.metric}={result.best.value}, params {result.best.params}, "
            f"export {result.best.export_path}" if result.best else "No trial completed.")
    completed = sum(trial.state == "COMPLETE" for trial in result.trials)
    note = "" if completed >= 2 else "\n\nParameter importances need at least 2 completed trials: not drawn."
    write_text_atomically(written[1], f"# Study {result.study_name}: {result.goal} {result.metric}\n\n"
                                      f"{format_table(result)}\n\n{best}{note}\n")
    written += _plots(study, output_dir, completed)
    return tuple(written)


def _plots(study: Any, output_dir: str, completed: int) -> list[str]:
    try:
        import matplotlib.pyplot as plt
        from optuna.visualization import matplotlib as optuna_plots
    except ImportError:
        logger.warning("No plots: matplotlib is missing (pip install torch-estimator[tuning]).")
        return []
    drawings = [(HISTORY_PNG, optuna_plots.plot_optimization_history)] if completed >= 1 else []
    if completed >= 2:
        drawings.append((IMPORTANCES_PNG, optuna_plots.plot_param_importances))
    written = []
    for name, draw in drawings:
        path = os.path.join(output_dir, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
            try:
                figure = draw(study).figure
            except (ValueError, RuntimeError) as error:  # e.g. importances of parameters that never varied
                logger.warning("Could not draw %s: %s", name, error)
                continue
        try:
            _save_figure(figure, path)
        finally:
            plt.close(figure)
        written.append(path)
    return written


def _save_figure(figure: Any, path: str) -> None:
    temporary = f"{path}{TEMPORARY_INFIX}{os.getpid()}.png"
    figure.tight_layout()
    figure.savefig(temporary, dpi=100)
    os.replace(temporary, path)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value).replace("|", "\\|")
