"""The b_hyperparam lab's entry point: ``python -m trainer.task --output_dir DIR [--learning_rate ...]``.

Under a tuner (``torch-estimator tune``), the trial id in ``TF_CONFIG["task"]["trial"]`` is
appended to ``--output_dir``, as the lab did, so that every trial trains in a directory of its own.
"""

from __future__ import annotations

import argparse
import json
import os

from torch_estimator.distributed.trial import read_trial_id

from trainer import model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", required=True, help="model_dir (the trial id is appended under a tuner)")
    parser.add_argument("--learning_rate", type=float, default=0.01, help="FTRL learning rate")
    parser.add_argument("--batch_size", type=int, default=30, help="training batch size")
    parser.add_argument("--train_steps", type=int, default=1000, help="training steps")
    parser.add_argument("--eval_every_steps", type=int, default=200, help="checkpoint and evaluate every N steps")
    parser.add_argument("--no_export", action="store_true", help="skip the LatestExporter (quick runs)")
    parser.add_argument("--job-dir", default=None, help="AI Platform's flag, accepted and ignored")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    output_dir = os.path.join(args.output_dir, read_trial_id())
    metrics = model.train_and_evaluate(output_dir, args.learning_rate, args.batch_size, args.train_steps,
                                       args.eval_every_steps, export=not args.no_export)
    print(json.dumps({"output_dir": output_dir, "rmse": metrics["rmse"], "global_step": metrics["global_step"]}))
    return metrics


if __name__ == "__main__":
    main()
