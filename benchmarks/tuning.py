"""Tuning workload: the tuner's cost per trial against a hand-written Optuna loop (the floor).

Each trial runs the same trainer command: a Python process that appends 5 evaluations, 0.1 s
apart, to ``<output_dir>/<trial>/eval/eval_results.jsonl`` (no model: this measures the tuner,
not training). 8 trials, one at a time, TPE sampler, a journal file in the output directory.

* floor: ``study.optimize`` whose objective runs the command with ``subprocess.run`` and reads
  the last evaluation after it exits (no intermediate reports, no pruning, no summary);
* tuner: ``run_study`` with a command launcher: the same trials, plus every evaluation reported
  while the trial runs (pruning possible), trial logs, the summary table and two PNG plots;
* tuner, 2 trials at a time (``max_parallel_trials=2``).

Prints one JSON object. Run: ``python benchmarks/tuning.py`` (or ``make bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import optuna

from torch_estimator.distributed.trial import trial_environment
from torch_estimator.tuning import command_launcher, read_hyperparameters, run_study

TRAINER = """
import argparse, json, os, time
p = argparse.ArgumentParser(); p.add_argument("--output_dir"); p.add_argument("--x", type=float)
a = p.parse_args()
trial = json.loads(os.environ["TF_CONFIG"])["task"]["trial"]
d = os.path.join(a.output_dir, trial, "eval"); os.makedirs(d, exist_ok=True)
for step in range(1, 6):
    with open(os.path.join(d, "eval_results.jsonl"), "a") as f:
        f.write(json.dumps({"results": {"rmse": (a.x - 0.3) ** 2 + 1 / step, "global_step": step}}) + "\\n")
    time.sleep(0.1)
"""
SPEC = {"goal": "MINIMIZE", "hyperparameterMetricTag": "rmse",
        "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0.0, "maxValue": 1.0}]}


def floor(trials: int, output_dir: str) -> float:
    """A hand-written Optuna loop over the same command."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(
        os.path.join(output_dir, "floor.journal")))
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.TPESampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial_id = str(trial.number + 1)
        subprocess.run([sys.executable, "-c", TRAINER, "--output_dir", output_dir, f"--x={x}"], check=True,
                       env=trial_environment(trial_id))
        with open(os.path.join(output_dir, trial_id, "eval", "eval_results.jsonl")) as f:
            return json.loads(f.read().splitlines()[-1])["results"]["rmse"]

    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return time.perf_counter() - start


def tuner(trials: int, parallel: int, output_dir: str) -> float:
    spec = read_hyperparameters({**SPEC, "maxTrials": trials, "maxParallelTrials": parallel})
    launch = command_launcher([sys.executable, "-c", TRAINER, "--output_dir", output_dir])
    start = time.perf_counter()
    run_study(spec, launch, output_dir, sampler=optuna.samplers.TPESampler(seed=0), poll_seconds=0.1)
    return time.perf_counter() - start


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    results = {}
    for name, run in (("floor", lambda d: floor(args.trials, d)), ("tuner", lambda d: tuner(args.trials, 1, d)),
                      ("tuner_parallel_2", lambda d: tuner(args.trials, 2, d))):
        with tempfile.TemporaryDirectory() as directory:
            results[name] = run(directory)
    per_trial = {name: seconds / args.trials for name, seconds in results.items()}
    return {
        "workload": f"{args.trials} trials of a 5-evaluation, 0.5 s trainer command",
        "seconds": {name: round(seconds, 3) for name, seconds in results.items()},
        "seconds_per_trial": {name: round(seconds, 3) for name, seconds in per_trial.items()},
        "tuner_over_floor": round(results["tuner"] / results["floor"], 3),
        "tuner_overhead_ms_per_trial": round(1000 * (per_trial["tuner"] - per_trial["floor"]), 1),
        "parallel_2_speedup": round(results["tuner"] / results["tuner_parallel_2"], 3),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
