"""The course's custom-estimator lab, production version: ``train_and_evaluate`` and an export.

Same data and model as ``custom_estimator.py`` (an LSTM(3) predicting the 10th value of a sine
sequence from the first 9), trained as the TensorFlow lab's ``train_and_evaluate(output_dir)``:

    TrainSpec(input_fn=train, max_steps=1000)
    EvalSpec(input_fn=valid, steps=None, exporters=LatestExporter('exporter', serving_input_fn))

with the lab's ``export_outputs={'predict_export_outputs': PredictOutput(predictions)}``. The
export in ``model_dir/export/exporter/<timestamp>/`` has the signatures ``serving_default`` and
``predict_export_outputs``; it is reloaded with ``est.export.load`` (no training code needed)
and its predictions are compared with ``Estimator.predict``.

Run: ``python examples/custom_estimator_train_and_evaluate.py [--model-dir DIR] [--steps N]``.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

import torch_estimator as est
from torch_estimator.export.exporters import LatestExporter
from torch_estimator.training import EvalSpec, TrainSpec, train_and_evaluate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import custom_estimator as lab  # noqa: E402  (the lab's data and model_fn, next to this file)


def simple_rnn(features, labels, mode):
    """The lab's model_fn, with the lab's export outputs in PREDICT mode."""
    spec = lab.simple_rnn(features, labels, mode)
    if mode != est.ModeKeys.PREDICT:
        return spec
    predictions = spec.predictions["predicted"]
    # TF's lab: PredictOutput(outputs=predictions), a single tensor, so it is served as 'output'.
    return spec._replace(export_outputs={"predict_export_outputs": est.export.PredictOutput(predictions)})


def serving_input_fn() -> est.export.ServingInputReceiver:
    """The lab's serving input: a float batch of 9-value sequences, fed to model_fn as ``rawdata``."""
    receiver_tensors = {"rawdata": est.export.TensorSpec([None, lab.N_INPUTS], torch.float32)}
    return est.export.ServingInputReceiver(features={"rawdata": receiver_tensors["rawdata"]},
                                           receiver_tensors=receiver_tensors)


def main(model_dir: str | None = None, steps: int = 1000, seed: int = 42) -> dict:
    train_x, train_y = lab.make_data(1000, seed=seed)
    eval_x, eval_y = lab.make_data(50, seed=seed + 1)
    # TensorFlow's defaults (a checkpoint every 600 s, throttle_secs=600): on a run this short the
    # evaluation and the export happen once, at the end.
    estimator = est.Estimator(simple_rnn, model_dir=model_dir, config=est.RunConfig(tf_random_seed=seed))
    train_spec = TrainSpec(est.inputs.numpy_input_fn(train_x, train_y, batch_size=512, num_epochs=None, shuffle=True),
                           max_steps=steps)
    eval_spec = EvalSpec(est.inputs.numpy_input_fn(eval_x, eval_y, batch_size=50, shuffle=False), steps=None,
                         exporters=LatestExporter("exporter", serving_input_fn))
    metrics, (export_dir,) = train_and_evaluate(estimator, train_spec, eval_spec)
    print(f"\nEvaluation after {metrics['global_step']} steps: rmse = {metrics['rmse']:.4f} "
          f"(the TensorFlow lab reported 0.136)")

    predictor = est.export.load(export_dir)
    served = predictor({"rawdata": eval_x["rawdata"]}, signature="predict_export_outputs")["output"]
    predicted = np.stack([p["predicted"] for p in estimator.predict(
        est.inputs.numpy_input_fn(eval_x, shuffle=False, batch_size=50))])
    print(f"Export: {export_dir}\n  signatures: {sorted(predictor.signatures)}")
    for row in range(3):
        print(f"  sequence {row}: served {served[row, 0]:+.4f}, Estimator.predict {predicted[row, 0]:+.4f}, "
              f"actual {eval_y[row, 0]:+.4f}")
    print(f"  largest difference over {len(served)} sequences: {np.abs(served - predicted).max():.2e}")
    estimator.close()
    return {"metrics": metrics, "export_dir": export_dir, "served": served, "predicted": predicted,
            "eval_x": eval_x}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None, help="default: a new temporary directory")
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    main(args.model_dir, args.steps)
