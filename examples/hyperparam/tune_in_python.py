"""The b_hyperparam study from Python: ``est.tuning.tune`` over the lab's model, with ``hyperparam.yaml``'s space.

``torch-estimator tune`` runs the trainer module once per trial (the course's way); here each
trial calls the model's ``train_and_evaluate`` in a child process started from a fork server
that has already imported PyTorch, so a trial starts at once. The spec is read from the same
``hyperparam.yaml``.

Run: ``python tune_in_python.py OUTPUT_DIR [--train_steps N] [--max_parallel_trials N]``.
"""

from __future__ import annotations

import argparse
import functools
import pathlib
import sys

import yaml

import torch_estimator as est

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the trainer package, for this process and the trials'
from trainer import model  # noqa: E402


def trial(params: dict, model_dir: str, train_steps: int, eval_every_steps: int, export: bool) -> None:
    """One trial: the lab's model with the trial's batch size and learning rate."""
    model.train_and_evaluate(model_dir, params["learning_rate"], params["batch_size"], train_steps,
                             eval_every_steps, export=export)


def main(output_dir: str, train_steps: int = 1000, eval_every_steps: int = 200, export: bool = True,
         max_parallel_trials: int | None = None) -> est.tuning.TuningResult:
    """Runs (or resumes) the study of ``hyperparam.yaml`` in ``output_dir``; returns its result."""
    spec = est.tuning.read_hyperparameters(yaml.safe_load((HERE / "hyperparam.yaml").read_text()))
    result = est.tuning.tune(
        functools.partial(trial, train_steps=train_steps, eval_every_steps=eval_every_steps, export=export),
        spec.params, output_dir=output_dir, metric=spec.metric_tag, goal=spec.goal, max_trials=spec.max_trials,
        max_parallel_trials=max_parallel_trials or spec.max_parallel_trials)
    print(est.tuning.format_table(result))
    print(f"Best: trial {result.best.trial_id}, rmse {result.best_value / 1e3:.1f}k USD, {result.best_params}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir")
    parser.add_argument("--train_steps", type=int, default=1000)
    parser.add_argument("--eval_every_steps", type=int, default=200)
    parser.add_argument("--max_parallel_trials", type=int, default=None)
    args = parser.parse_args()
    main(args.output_dir, args.train_steps, args.eval_every_steps, max_parallel_trials=args.max_parallel_trials)
