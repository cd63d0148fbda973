"""The course's house-price demo: an Estimator fed from CSV files found by a glob.

The data is the lecture's toy set, two small CSV files (``data/property_prices_0{1,2}.csv``,
36 rows, no header, columns ``sq_footage,type,price``), made up so that a house costs
0.5 * sq_footage and an apartment 0.6 * sq_footage + 100 (thousands). The rule is exact at
1000, 2000 and 3000 sq ft only: 100 sq ft more adds 25 to either price, so the best straight
line per type (least squares) misses the rule by about 3% (1500 sq ft: house 727 instead of
750, apartment 967 instead of 1000) and the evaluation rmse cannot go below about 25.

The second file has spaces after its commas: ``decode_csv`` trims them from numbers but, as
TensorFlow's does, keeps them in strings, so ``decode`` strips the ``type`` column itself.

The input pipeline is the course's ``read_dataset``, on ``est.data``: files by glob, lines
shuffled, batched, decoded. The model is linear: ``type`` one-hot, and ``sq_footage`` crossed
with it (one slope and one intercept per type, as a LinearRegressor with a crossed column),
so it can fit the data exactly.

Run: ``python examples/property_prices.py [--model-dir DIR] [--steps N]``.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
import torch
from torch import nn

import torch_estimator as est
from torch_estimator.data.pipeline import Dataset, TextLineDataset, decode_csv

DATA = pathlib.Path(__file__).resolve().parent / "data"
CSV_COLUMNS = ["sq_footage", "type", "price"]
LABEL = "price"
DEFAULTS = [[0.0], ["house"], [0.0]]
TYPES = ["house", "apt"]
# Areas and prices are learnt in thousands, areas centred on 2,000 sq ft: the weights are then
# near 1 and uncorrelated, and plain SGD converges in a few hundred steps instead of thousands.
SCALE = 1000.0
CENTRE = 2000.0


def read_dataset(file_pattern: str, mode: str, batch_size: int = 12) -> Dataset:
    """The course's ``read_dataset``: (features, label) batches from the files ``file_pattern`` matches."""

    def decode(lines):
        columns = decode_csv(lines, record_defaults=DEFAULTS)
        features = dict(zip(CSV_COLUMNS, columns))
        features["type"] = np.char.strip(features["type"].astype(str))  # ' house' in the second file
        label = features.pop(LABEL)
        return features, label

    dataset = TextLineDataset(Dataset.list_files(file_pattern))
    if mode == est.ModeKeys.TRAIN:
        dataset = dataset.shuffle(10 * batch_size).repeat(None)
    return dataset.batch(batch_size).map(decode)


class PricePerType(nn.Module):
    """price = slope[type] * sq_footage + intercept[type]: one linear layer over
    ``[area * one_hot(type), one_hot(type)]``, with ``area`` the scaled, centred sq_footage."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2 * len(TYPES), 1, bias=False)
        nn.init.zeros_(self.linear.weight)  # TensorFlow's linear models start at zero too

    def forward(self, sq_footage: torch.Tensor, types: np.ndarray) -> torch.Tensor:
        one_hot = torch.from_numpy(np.stack([types == name for name in TYPES], axis=1)).float()
        area = ((sq_footage - CENTRE) / SCALE).unsqueeze(1)
        return self.linear(torch.cat([area * one_hot, one_hot], dim=1))


def price_model(features, labels, mode):
    model = est.get_module("linear", PricePerType)
    scaled = model(features["sq_footage"], features["type"])
    predictions = {"price": scaled.squeeze(1) * SCALE}
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions=predictions)
    loss = nn.functional.mse_loss(scaled.squeeze(1), labels / SCALE)
    return est.EstimatorSpec(
        mode,
        predictions=predictions,
        loss=loss,
        train_op=est.train.minimize(loss, "SGD", learning_rate=0.2),
        eval_metric_ops={"rmse": est.metrics.root_mean_squared_error(labels, predictions["price"]),
                         "mae": est.metrics.mean_absolute_error(labels, predictions["price"])},
    )


def predict_prices(estimator: est.Estimator, rows: list[tuple[float, str]]) -> list[float]:
    """Predicted prices for ``(sq_footage, type)`` rows."""
    features = {"sq_footage": [float(area) for area, _ in rows], "type": [kind for _, kind in rows]}
    return [float(p["price"]) for p in estimator.predict(lambda: Dataset.from_tensor_slices(features).batch(16))]


def main(model_dir: str | None = None, steps: int = 300, seed: int = 42, data_dir: pathlib.Path = DATA) -> dict:
    pattern = str(data_dir / "property_prices_*.csv")
    estimator = est.Estimator(price_model, model_dir=model_dir,
                              config=est.RunConfig(tf_random_seed=seed, save_checkpoints_steps=steps))
    estimator.train(lambda mode: read_dataset(pattern, mode), max_steps=steps)
    metrics = estimator.evaluate(lambda mode: read_dataset(pattern, mode))
    print(f"\nEvaluation after {metrics['global_step']} steps on all 36 rows: rmse = {metrics['rmse']:.2f}, "
          f"mae = {metrics['mae']:.2f} (prices are in thousands)")
    rows = [(1500, "house"), (1500, "apt"), (2500, "house"), (2500, "apt")]
    for (area, kind), predicted in zip(rows, predict_prices(estimator, rows)):
        truth = 0.5 * area if kind == "house" else 0.6 * area + 100
        print(f"  {area} sq ft {kind:5}: predicted {predicted:7.1f}, the data's rule gives {truth:7.1f}")
    print(f"\nCheckpoints: {estimator.latest_checkpoint()}")
    estimator.close()
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None, help="default: a new temporary directory")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    main(args.model_dir, args.steps)
