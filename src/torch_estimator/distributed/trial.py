"""The hyperparameter-tuning trial id in ``TF_CONFIG["task"]["trial"]`` (AI Platform's convention).

A tuner starts each trial's trainer with the trial id in ``TF_CONFIG``; the course's trainers
append it to their output directory so that every trial gets its own ``model_dir``. Both sides
of that exchange live here because this package is the one place that touches the process
environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from torch_estimator.errors import message


def trial_environment(trial: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of the environment whose ``TF_CONFIG["task"]["trial"]`` is ``trial``.

    An existing ``TF_CONFIG`` (a cluster, a task type) is kept; only the trial id is set.

    Example:
        >>> env = trial_environment("3", {"PATH": "/bin"})
        >>> env["PATH"], json.loads(env["TF_CONFIG"])
        ('/bin', {'task': {'trial': '3'}})
    """
    environ = os.environ if environ is None else environ
    config = _tf_config(environ)
    config.setdefault("task", {})["trial"] = str(trial)
    return {**environ, "TF_CONFIG": json.dumps(config)}


def read_trial_id(environ: Mapping[str, str] | None = None) -> str:
    """This process's trial id from ``TF_CONFIG["task"]["trial"]``; ``''`` outside a tuning job.

    Example:
        >>> read_trial_id({"TF_CONFIG": '{"task": {"trial": "2"}}'}), read_trial_id({})
        ('2', '')
    """
    environ = os.environ if environ is None else environ
    return str((_tf_config(environ).get("task") or {}).get("trial", ""))


def _tf_config(environ: Mapping[str, str]) -> dict:
    raw = environ.get("TF_CONFIG") or "{}"
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        config = error
    if not isinstance(config, dict):
        raise ValueError(message("TF_CONFIG is not a JSON object", expected='JSON like {"task": {"trial": "1"}}',
                                 fix="Fix the TF_CONFIG environment variable", TF_CONFIG=raw[:200]))
    return config
