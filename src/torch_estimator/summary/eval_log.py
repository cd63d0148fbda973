"""``eval_results.jsonl``: every evaluation's results, one JSON line each, in the eval directory.

TensorFlow's early-stopping hooks and BestExporter re-read evaluation results from event files
(`read_eval_metrics`), which needs TensorBoard's reader and picks up whatever happens to be there.
This log is written by ``Estimator.evaluate`` itself (chief only), so the results that drive
early stopping and best-model export survive a restart and are exactly the ones evaluate
returned. A line torn by a crash is ignored on reading.
"""

from __future__ import annotations

import collections
import json
import os
from typing import Any

EVAL_LOG = "eval_results.jsonl"


def append_eval_result(eval_dir: str, results: dict[str, Any], checkpoint_path: str | None) -> None:
    """Appends one evaluation (with its checkpoint) and fsyncs it."""
    os.makedirs(eval_dir, exist_ok=True)
    record = {"results": results, "checkpoint_path": checkpoint_path}
    with open(os.path.join(eval_dir, EVAL_LOG), "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_eval_results(eval_dir: str) -> list[dict[str, Any]]:
    """Every logged evaluation of ``eval_dir``, oldest first (``{"results", "checkpoint_path"}``)."""
    try:
        with open(os.path.join(eval_dir, EVAL_LOG), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # torn by a crash mid-write
    return records


def read_eval_metrics(eval_dir: str) -> collections.OrderedDict[int, dict[str, Any]]:
    """TensorFlow's ``read_eval_metrics``: global step -> metrics dict, sorted by step.

    Example:
        >>> import tempfile
        >>> directory = tempfile.mkdtemp()
        >>> append_eval_result(directory, {"loss": 0.5, "global_step": 10}, None)
        >>> read_eval_metrics(directory)[10]["loss"]
        0.5
    """
    by_step = {record["results"]["global_step"]: record["results"] for record in read_eval_results(eval_dir)}
    return collections.OrderedDict(sorted(by_step.items()))
