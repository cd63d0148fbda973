"""``torch-estimator tune``: tune a trainer module with AI Platform's ``hyperparam.yaml``.

The course's way, unchanged but for the first words::

    torch-estimator tune --config hyperparam.yaml --output_dir DIR -- \\
        python -m trainer.task --output_dir DIR --train_steps 1000

Each trial runs the command after ``--`` with ``--name=value`` for each tuned parameter and
the trial id in ``TF_CONFIG["task"]["trial"]``; the trainer appends that id to its output
directory, as the labs did, so trial ``N`` trains in ``DIR/N``, where the tuner reads its
evaluation results. The study (a journal file in ``DIR`` unless ``--storage`` names a
database), the trials' logs (``DIR/logs``) and the summary (``trials.md``, ``trials.csv``,
plots) are in ``DIR``; running the same command again resumes the study.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from torch_estimator.errors import message


def add_parser(commands: Any) -> None:
    """Adds the ``tune`` subcommand to ``torch-estimator``'s subparsers."""
    tune = commands.add_parser("tune", help="Tune a trainer module's hyperparameters (AI Platform's "
                                            "hyperparam.yaml) with Optuna.",
                               description="Run trials of a trainer command, each with --name=value flags and its "
                                           "trial id in TF_CONFIG, and optimize the metric its evaluations report.")
    tune.set_defaults(run=run)
    tune.add_argument("--config", required=True, help="YAML or JSON with trainingInput.hyperparameters.")
    tune.add_argument("--output_dir", required=True, help="Trials' model dirs (DIR/<trial id>), logs, study "
                                                          "journal and summary.")
    tune.add_argument("--storage", default=None, help="Study storage: a journal path or a database URL such as "
                                                      "postgresql://user@host/db (default: DIR/study.journal).")
    tune.add_argument("--study_name", default=None, help="Default: the output directory's name.")
    tune.add_argument("--eval_name", default=None, help="EvalSpec name of the evaluations to read.")
    tune.add_argument("trainer", nargs=argparse.REMAINDER, help="-- then the trainer command.")


def run(args: argparse.Namespace) -> int:
    """Runs the study; prints the trials table and the best trial. Returns the exit status."""
    from torch_estimator import verbosity
    from torch_estimator.tuning import command_launcher, format_table, read_hyperparameters, run_study

    command = args.trainer[1:] if args.trainer[:1] == ["--"] else args.trainer
    launch = command_launcher(command)
    verbosity.ensure_visible()
    try:
        spec = read_hyperparameters(read_config(args.config))
        result = run_study(spec, launch, args.output_dir, storage=args.storage, study_name=args.study_name,
                           eval_name=args.eval_name)
    except ImportError as error:  # the tuning extra is missing: say so without a traceback
        print(f"torch-estimator tune: error: {error}", file=sys.stderr)
        return 1
    print(format_table(result))
    best = result.best
    if best is None:  # this tuner's share is done; the study's trials still run on other machines
        print(f"No trial completed yet; summary in {args.output_dir}")
    else:
        print(f"Best trial {best.trial_id}: {result.metric}={best.value:.6g} with {best.params}; "
              f"export {best.export_path}; summary in {args.output_dir}")
    return 0


def read_config(path: str) -> dict:
    """Loads ``hyperparam.yaml`` (YAML, or JSON, which is YAML too)."""
    import yaml

    with open(path, encoding="utf-8") as f:
        try:
            config = yaml.safe_load(f)
        except yaml.YAMLError as error:
            raise ValueError(message("The tuning config is not valid YAML", expected="AI Platform's hyperparam.yaml "
                                     "(trainingInput.hyperparameters)", fix=f"Fix the file: {error}",
                                     config=path)) from error
    if not isinstance(config, dict):
        raise ValueError(message("The tuning config must be a mapping", expected="trainingInput.hyperparameters",
                                 fix="Write the spec as in AI Platform's hyperparam.yaml", config=path))
    return config
