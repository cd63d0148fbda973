"""Writes tests/checkpoint/data/tf_estimator_wide_deep/: a model_dir of TF Estimator's own
DNNLinearCombinedRegressor (batch norm, an embedding column), with its predictions, for the
warm-start test that checks our names against TensorFlow's canned estimators.

Needs TensorFlow 2.15 and tensorflow-estimator 2.15 (the last releases with Estimator), which
the project does not depend on; run once by hand in a separate environment
(`pip install tensorflow-cpu==2.15.1 tensorflow-estimator==2.15.0`), then commit the files:

    python tests/checkpoint/data/make_tf_estimator_checkpoint.py

Only the files the tests read are kept: the `checkpoint` index, the checkpoints at steps 0 (the
initial weights) and 5, and predictions.npy (what TF's predict returned for the 4 rows below
after 5 training steps on them, one batch of 4 per step, default optimizers).
"""

import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_estimator_wide_deep")
X = {"a": np.array([0.5, -1.0, 2.0, 0.1]), "b": np.array([1.0, 0.0, -0.5, 0.3]), "kind": np.array(["u", "v", "v", "u"])}
Y = np.array([1.0, 0.0, 2.0, 0.5], np.float32)


def main() -> None:
    model_dir = tempfile.mkdtemp()
    kind = tf.feature_column.categorical_column_with_vocabulary_list("kind", ["u", "v"])
    a, b = tf.feature_column.numeric_column("a"), tf.feature_column.numeric_column("b")
    estimator = tf.estimator.DNNLinearCombinedRegressor(
        model_dir=model_dir, linear_feature_columns=[a, kind],
        dnn_feature_columns=[a, b, tf.feature_column.embedding_column(kind, 2)], dnn_hidden_units=[4, 3],
        batch_norm=True, config=tf.estimator.RunConfig(tf_random_seed=0))
    numpy_input_fn = tf.compat.v1.estimator.inputs.numpy_input_fn
    estimator.train(numpy_input_fn(X, Y, batch_size=4, num_epochs=None, shuffle=False), steps=5)
    predictions = [p["predictions"][0] for p in estimator.predict(numpy_input_fn(X, batch_size=4, shuffle=False))]
    shutil.rmtree(HERE, ignore_errors=True)
    os.makedirs(HERE)
    for name in ("checkpoint", "model.ckpt-0.index", "model.ckpt-0.data-00000-of-00001", "model.ckpt-5.index",
                 "model.ckpt-5.data-00000-of-00001"):
        shutil.copy(os.path.join(model_dir, name), HERE)
    np.save(os.path.join(HERE, "predictions.npy"), np.array(predictions, np.float32))


if __name__ == "__main__":
    main()
