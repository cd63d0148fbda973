"""The b_hyperparam lab's model: a ``LinearRegressor`` on ``num_rooms`` with FTRL at ``learning_rate``.

The data and the rmse-in-dollars metric are those of the California-housing lab
(``examples/california_housing.py``): the same file, derived features and seeded 80/20 split.
Evaluations follow each checkpoint (every ``eval_every_steps`` steps) on the whole eval split;
a ``LatestExporter`` exports after each, as in the lab.
"""

from __future__ import annotations

import functools
import pathlib
import sys

import torch

import torch_estimator as est

# california_housing.py lives in examples/, two levels up; the lab's data code is reused from there.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
import california_housing as housing  # noqa: E402


def serving_input_fn() -> est.export.ServingInputReceiver:
    return est.export.build_raw_serving_input_receiver_fn({"num_rooms": est.export.TensorSpec([None], torch.float32)})()


def train_and_evaluate(output_dir: str, learning_rate: float, batch_size: int, train_steps: int,
                       eval_every_steps: int, export: bool = True, seed: int = 42) -> dict:
    """Trains in ``output_dir``; returns the last evaluation's metrics (``rmse`` in USD among them).

    ``export=False`` leaves the exporter out (quick runs: an export traces the model).
    """
    train, evaluation = housing.load_data()
    config = est.RunConfig(tf_random_seed=seed, save_checkpoints_steps=eval_every_steps, progress_bar=False)
    estimator = est.LinearRegressor([est.feature_column.numeric_column("num_rooms")], model_dir=output_dir,
                                    optimizer=functools.partial(est.train.Ftrl, lr=learning_rate), config=config)
    estimator = est.add_metrics(estimator, housing.rmse_in_dollars)
    train_spec = est.TrainSpec(housing.input_fn(train, num_epochs=None, shuffle=True, batch_size=batch_size),
                               max_steps=train_steps)
    eval_spec = est.EvalSpec(housing.input_fn(evaluation, num_epochs=1, shuffle=False, batch_size=len(evaluation)),
                             steps=None, throttle_secs=0,
                             exporters=est.LatestExporter("exporter", serving_input_fn) if export else ())
    metrics, _ = est.train_and_evaluate(estimator, train_spec, eval_spec)
    return metrics
