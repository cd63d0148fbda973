"""Writes tests/keras/data/tf_keras_estimator.npz and .json: what TensorFlow's own
``tf.keras.estimator.model_to_estimator`` did with a small compiled Keras model, for the fidelity
test in tests/keras/test_tensorflow_keras_fidelity.py.

Needs TensorFlow 2.15 and tensorflow-estimator 2.15 (the last releases with Estimator), which
the project does not depend on; run once by hand in a separate environment
(`pip install tensorflow-cpu==2.15.1 tensorflow-estimator==2.15.0`), then commit the files:

    python tests/keras/data/make_tf_keras_estimator.py

The model (Dense 3 -> 4 relu -> 1, Adam, mean squared error, mae metric) is converted, trained 5
steps on 16 rows in batches of 8 (in order), evaluated on all of them and asked for predictions.
Saved: the initial weights, TensorFlow's weights after training, evaluate's results and the
predictions.
"""

import json
import os
import tempfile

import numpy as np
import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))


def rows():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)
    return x, y


def main() -> None:
    x, y = rows()
    tf.random.set_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.Dense(4, activation="relu", input_shape=(3,), name="hidden"),
                                 tf.keras.layers.Dense(1, name="out")])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    initial = model.get_weights()
    estimator = tf.keras.estimator.model_to_estimator(keras_model=model, model_dir=tempfile.mkdtemp())
    numpy_input_fn = tf.compat.v1.estimator.inputs.numpy_input_fn
    estimator.train(numpy_input_fn({"hidden_input": x}, y, batch_size=8, num_epochs=None, shuffle=False), steps=5)
    metrics = estimator.evaluate(numpy_input_fn({"hidden_input": x}, y, batch_size=16, shuffle=False))
    predictions = [p["out"].tolist() for p in estimator.predict(numpy_input_fn({"hidden_input": x[:4]},
                                                                               batch_size=4, shuffle=False))]
    # model_to_estimator's default checkpoint_format='checkpoint': object-based variable names.
    names = [f"layer_with_weights-{layer}/{weight}/.ATTRIBUTES/VARIABLE_VALUE" for layer in (0, 1)
             for weight in ("kernel", "bias")]
    np.savez(os.path.join(HERE, "tf_keras_estimator.npz"), x=x, y=y,
             **{f"initial_{i}": w for i, w in enumerate(initial)},
             **{f"final_{i}": estimator.get_variable_value(name) for i, name in enumerate(names)})
    with open(os.path.join(HERE, "tf_keras_estimator.json"), "w") as file:
        json.dump({"eval": {key: float(value) for key, value in metrics.items()}, "predictions": predictions,
                   "variables": estimator.get_variable_names()}, file, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
