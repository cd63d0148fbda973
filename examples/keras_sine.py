"""The lecture's Keras demo as an Estimator: ``est.keras.model_to_estimator`` on the sine lab data.

The course's model, written for tf.keras and unchanged here::

    Sequential([Dense(32, input_shape=(9,), name='rawdata'), Activation('relu'), Dense(1)])
    compile(loss='mean_squared_error', optimizer='adam', metrics=['mae', 'mape'])

fed the custom-estimator lab's sequences (``custom_estimator.py``: 9 values of
``sin(t * freq) * ampl`` predict the 10th) as ``{'rawdata_input': [B, 9]}`` (tf.keras's name
for the input of a first layer called ``rawdata``), 1000 steps at batch 512. The TensorFlow
lab reported an evaluation loss of 6.4e-4 and a mean_absolute_error of 0.018. A bare tensor
feeds the model too; the trained weights go back into the Keras model with
``est.keras.load_weights``.

Run: ``python examples/keras_sine.py [--model-dir DIR] [--steps N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first Keras import

import keras  # noqa: E402

import torch_estimator as est  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import custom_estimator as lab  # noqa: E402  (the lab's sine data, next to this file)


def lecture_model() -> keras.Model:
    with warnings.catch_warnings():  # Keras 3 prefers keras.Input to input_shape=; the lecture's code kept
        warnings.simplefilter("ignore", UserWarning)
        model = keras.Sequential([keras.layers.Dense(32, input_shape=(lab.N_INPUTS,), name="rawdata"),
                                  keras.layers.Activation("relu"), keras.layers.Dense(1)])
    model.compile(loss="mean_squared_error", optimizer="adam", metrics=["mae", "mape"])
    return model


def main(model_dir: str | None = None, steps: int = 1000, seed: int = 42) -> dict:
    keras.utils.set_random_seed(seed)
    train_x, train_y = lab.make_data(10000, seed=seed)
    eval_x, eval_y = lab.make_data(1000, seed=seed + 1)
    features = {"rawdata_input": train_x["rawdata"]}  # tf.keras's '<first layer name>_input'
    model = lecture_model()
    estimator = est.keras.model_to_estimator(keras_model=model, model_dir=model_dir,
                                             config=est.RunConfig(tf_random_seed=seed, save_checkpoints_steps=500))
    estimator.train(est.inputs.numpy_input_fn(features, train_y, batch_size=512, num_epochs=None, shuffle=True),
                    max_steps=steps)
    metrics = estimator.evaluate(est.inputs.numpy_input_fn({"rawdata_input": eval_x["rawdata"]}, eval_y,
                                                           batch_size=500, shuffle=False))
    print(f"\nEvaluation after {metrics['global_step']} steps: loss = {metrics['loss']:.2e}, "
          f"mean_absolute_error = {metrics['mean_absolute_error']:.4f} (the TensorFlow lab: 6.4e-4 and 0.018)")
    # A single-input model also takes a bare tensor as its features.
    first = eval_x["rawdata"][:3]
    output = model.layers[-1].name  # predictions are keyed by output layer name ('dense' in a fresh process)
    for row, prediction in enumerate(estimator.predict(est.inputs.numpy_input_fn(first, shuffle=False))):
        print(f"  sequence {row}: predicted {prediction[output][0]:+.4f}, actual {eval_y[row, 0]:+.4f}")
    est.keras.load_weights(model, estimator)  # the conversion is two-way
    keras_loss = model.evaluate(eval_x["rawdata"], eval_y, batch_size=500, verbose=0, return_dict=True)["loss"]
    print(f"The Keras model with the trained weights: loss = {keras_loss:.2e}")
    estimator.close()
    return {**metrics, "keras_loss": keras_loss}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None, help="default: a new temporary directory")
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    main(args.model_dir, args.steps)
