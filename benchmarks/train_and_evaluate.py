"""train_and_evaluate on the course lab against the same work done by hand.

Workload: ``examples/custom_estimator.py``'s lab (LSTM(3) over 9 steps, SGD 0.01, batch 512,
1,000 training rows, 50 evaluation rows), 1,000 steps, TensorFlow's default RunConfig (a
checkpoint at the start and the end), one thread. Two ways, alternating (and swapping which goes
first) for ``--repeats`` rounds in fresh model_dirs, medians reported:

* ``train_and_evaluate``: ``TrainSpec(max_steps=1000)``, ``EvalSpec(steps=None,
  exporters=LatestExporter('exporter', serving_input_fn))``: one evaluation and one export, at
  the end (the default ``throttle_secs=600`` is longer than the run);
* by hand: ``train(max_steps=1000)``, ``evaluate(steps=None)``, ``export_saved_model(...)`` of
  the latest checkpoint, each timed.

The ratio is train_and_evaluate's overhead over the same work (the listener, the schedule, the
exporter's bookkeeping). Prints one JSON object. Run: ``python benchmarks/train_and_evaluate.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time

import torch

import torch_estimator as est
from torch_estimator.export.exporters import LatestExporter
from torch_estimator.training import EvalSpec, TrainSpec, train_and_evaluate

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import custom_estimator_train_and_evaluate as lab  # noqa: E402  (its model_fn has the lab's export outputs)

SEED = 42


def estimator_class() -> type:
    """``est.Estimator``; until its ``export_saved_model`` lands, a subclass delegating to the export package."""
    if hasattr(est.Estimator, "export_saved_model"):
        return est.Estimator

    class Estimator(est.Estimator):
        def export_saved_model(self, export_dir_base, serving_input_receiver_fn, assets_extra=None,
                               checkpoint_path=None):
            return est.export.export_saved_model(self, export_dir_base, serving_input_receiver_fn, assets_extra,
                                                 checkpoint_path)

    return Estimator


def inputs(steps: int) -> tuple:
    train_x, train_y = lab.lab.make_data(1000, seed=SEED)
    eval_x, eval_y = lab.lab.make_data(50, seed=SEED + 1)
    train = est.inputs.numpy_input_fn(train_x, train_y, batch_size=512, num_epochs=None, shuffle=True)
    evaluate = est.inputs.numpy_input_fn(eval_x, eval_y, batch_size=50, shuffle=False)
    return train, evaluate


def new_estimator(cls: type) -> est.Estimator:
    return cls(lab.simple_rnn, model_dir=tempfile.mkdtemp(prefix="bench-tae-"),
               config=est.RunConfig(tf_random_seed=SEED, progress_bar=False))


def with_train_and_evaluate(cls: type, steps: int) -> dict[str, float]:
    train, evaluate = inputs(steps)
    estimator = new_estimator(cls)
    started = time.perf_counter()
    metrics, exports = train_and_evaluate(
        estimator, TrainSpec(train, max_steps=steps),
        EvalSpec(evaluate, steps=None, exporters=LatestExporter("exporter", lab.serving_input_fn)))
    total = time.perf_counter() - started
    assert metrics["global_step"] == steps and exports[0] is not None
    return {"total": total, "rmse": metrics["rmse"]}


def by_hand(cls: type, steps: int) -> dict[str, float]:
    train, evaluate = inputs(steps)
    estimator = new_estimator(cls)
    started = time.perf_counter()
    estimator.train(train, max_steps=steps)
    trained = time.perf_counter()
    metrics = estimator.evaluate(evaluate, steps=None)
    evaluated = time.perf_counter()
    estimator.export_saved_model(os.path.join(estimator.model_dir, "export", "exporter"), lab.serving_input_fn,
                                 checkpoint_path=estimator.latest_checkpoint())
    exported = time.perf_counter()
    return {"total": exported - started, "train": trained - started, "evaluate": evaluated - trained,
            "export": exported - evaluated, "rmse": metrics["rmse"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    est.logging.set_verbosity(est.logging.WARN)
    logging.getLogger("torch_estimator").handlers[:] = [logging.NullHandler()]
    cls = estimator_class()
    by_hand(cls, 20)  # warm-up: kernels, torch.export and ONNX imports
    tae_runs, hand_runs = [], []
    for round_ in range(args.repeats):
        # Alternate which goes first, so that drift on a shared machine favours neither.
        if round_ % 2:
            hand_runs.append(by_hand(cls, args.steps))
            tae_runs.append(with_train_and_evaluate(cls, args.steps))
        else:
            tae_runs.append(with_train_and_evaluate(cls, args.steps))
            hand_runs.append(by_hand(cls, args.steps))
    tae_s = statistics.median(run["total"] for run in tae_runs)
    hand_s = statistics.median(run["total"] for run in hand_runs)
    result = {
        "workload": "custom_estimator_lab_train_and_evaluate",
        "steps": args.steps,
        "threads": torch.get_num_threads(),
        "export_via": "Estimator.export_saved_model" if cls is est.Estimator else "est.export.export_saved_model "
                      "(Estimator.export_saved_model not yet present)",
        "train_and_evaluate_s": round(tae_s, 3),
        "by_hand_s": round(hand_s, 3),
        "train_and_evaluate_over_by_hand_ratio": round(tae_s / hand_s, 4),
        "by_hand_train_s": round(statistics.median(run["train"] for run in hand_runs), 3),
        "by_hand_evaluate_s": round(statistics.median(run["evaluate"] for run in hand_runs), 4),
        "by_hand_export_s": round(statistics.median(run["export"] for run in hand_runs), 3),
        "train_and_evaluate_seconds": [round(run["total"], 3) for run in tae_runs],
        "by_hand_seconds": [round(run["total"], 3) for run in hand_runs],
        "rmse": round(tae_runs[-1]["rmse"], 4),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
