"""A functional Keras model with two named inputs and two outputs, trained as an Estimator.

California housing (``data/california_housing_train.csv``, the lab's derived per-household
features and seeded 80/20 split from ``california_housing.py``). Two named inputs:
``location`` (longitude, latitude) and ``house`` (the five numeric features), each
standardised by a ``keras.layers.Normalization`` adapted on the training rows. Two outputs:
``value`` (the median house value in units of 100k USD, mean squared error) and
``expensive`` (is the value above the training median, binary cross-entropy), with
``loss_weights`` and per-output metrics. Features and labels are dicts keyed by the model's
input and output names; ``evaluate`` reports ``value_mean_absolute_error`` and
``expensive_accuracy``; the export serves ``location`` and ``house``.

Run: ``python examples/keras_functional.py [--model-dir DIR] [--steps N]``.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first Keras import

import keras  # noqa: E402
import numpy as np  # noqa: E402

import torch_estimator as est  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import california_housing as lab  # noqa: E402  (the lab's data preparation, next to this file)


def arrays(frame, threshold: float) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    features = {"location": frame[["longitude", "latitude"]].to_numpy(np.float32),
                "house": frame[lab.NUMERIC].to_numpy(np.float32)}
    value = (frame["median_house_value"].to_numpy(np.float32) / lab.SCALE)[:, None]
    return features, {"value": value, "expensive": (value > threshold).astype(np.float32)}


def two_headed_model(train_features: dict[str, np.ndarray]) -> keras.Model:
    location = keras.Input((2,), name="location")
    house = keras.Input((len(lab.NUMERIC),), name="house")
    normalized = []
    for name, tensor in (("location", location), ("house", house)):
        layer = keras.layers.Normalization(name=f"{name}_norm")
        layer.adapt(train_features[name])
        normalized.append(layer(tensor))
    hidden = keras.layers.Dense(64, activation="relu", name="hidden_1")(keras.layers.Concatenate()(normalized))
    hidden = keras.layers.Dense(32, activation="relu", name="hidden_2")(hidden)
    outputs = {"value": keras.layers.Dense(1, name="value")(hidden),
               "expensive": keras.layers.Dense(1, activation="sigmoid", name="expensive")(hidden)}
    model = keras.Model(inputs={"location": location, "house": house}, outputs=outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.003),
                  loss={"value": "mean_squared_error", "expensive": "binary_crossentropy"},
                  loss_weights={"value": 1.0, "expensive": 0.5},
                  metrics={"value": ["mae"], "expensive": ["acc"]})
    return model


def main(model_dir: str | None = None, steps: int = 2000, seed: int = 42) -> dict:
    keras.utils.set_random_seed(seed)
    train_frame, eval_frame = lab.load_data()
    threshold = float(np.median(train_frame["median_house_value"]) / lab.SCALE)
    train_x, train_y = arrays(train_frame, threshold)
    eval_x, eval_y = arrays(eval_frame, threshold)
    model = two_headed_model(train_x)
    estimator = est.keras.model_to_estimator(keras_model=model, model_dir=model_dir,
                                             config=est.RunConfig(tf_random_seed=seed))
    estimator.train(est.inputs.numpy_input_fn(train_x, train_y, batch_size=100, num_epochs=None, shuffle=True),
                    max_steps=steps)
    metrics = estimator.evaluate(est.inputs.numpy_input_fn(eval_x, eval_y, batch_size=500, shuffle=False))
    print(f"\nEvaluation after {metrics['global_step']} steps: value_mean_absolute_error = "
          f"{metrics['value_mean_absolute_error'] * lab.SCALE / 1e3:.1f}k USD, expensive_accuracy = "
          f"{metrics['expensive_accuracy']:.4f}, loss = {metrics['loss']:.4f}")
    export_dir = estimator.export_saved_model(os.path.join(estimator.model_dir, "export"),
                                              est.keras.build_serving_input_receiver_fn(model))
    served = est.export.load(export_dir)({name: value[:3] for name, value in eval_x.items()})
    for row in range(3):
        print(f"  block {row}: value {served['value'][row, 0] * lab.SCALE / 1e3:6.1f}k USD "
              f"(actual {eval_y['value'][row, 0] * lab.SCALE / 1e3:6.1f}k), p(expensive) "
              f"{served['expensive'][row, 0]:.2f} (actual {int(eval_y['expensive'][row, 0])})")
    estimator.close()
    return {"metrics": metrics, "export_dir": export_dir, "served": served}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None, help="default: a new temporary directory")
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    main(args.model_dir, args.steps)
