"""Writes tests/checkpoint/data/tf_wide_deep/: a TensorFlow checkpoint laid out as TF Estimator's
DNNLinearCombinedRegressor wrote it, for the TensorFlow-checkpoint reader's tests.

Needs TensorFlow, which the project does not depend on; run once by hand in a separate
environment (`pip install tensorflow-cpu`), then commit the files:

    python tests/checkpoint/data/make_tf_checkpoint.py

Written with TensorFlow 2.21.0 (tf.compat.v1 graph mode and Saver, as Estimator saved). The
network: 2 numeric columns a, b and a 2-d embedding of kind (vocabulary u, v) -> [4, 3] with
batch norm -> 1; the linear part over a and kind. Variable names follow TF's canned estimators;
some optimizer slots and extra dtypes (string, int32, bfloat16) are added to exercise the
reader. expected.npz holds every variable as TensorFlow's own reader returns it.
"""

import os
import shutil

import numpy as np
import tensorflow as tf

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_wide_deep")


def main() -> None:
    shutil.rmtree(HERE, ignore_errors=True)
    os.makedirs(HERE)
    tf.compat.v1.disable_eager_execution()
    rng = np.random.default_rng(0)
    values = {
        "dnn/input_from_feature_columns/input_layer/kind_embedding/embedding_weights": rng.normal(size=(2, 2)),
        "dnn/hiddenlayer_0/kernel": rng.normal(size=(4, 4)), "dnn/hiddenlayer_0/bias": rng.normal(size=4),
        "dnn/hiddenlayer_0/batchnorm_0/gamma": 1 + rng.random(4), "dnn/hiddenlayer_0/batchnorm_0/beta": rng.normal(size=4),
        "dnn/hiddenlayer_0/batchnorm_0/moving_mean": rng.normal(size=4),
        "dnn/hiddenlayer_0/batchnorm_0/moving_variance": 1 + rng.random(4),
        "dnn/hiddenlayer_1/kernel": rng.normal(size=(4, 3)), "dnn/hiddenlayer_1/bias": rng.normal(size=3),
        "dnn/hiddenlayer_1/batchnorm_1/gamma": 1 + rng.random(3), "dnn/hiddenlayer_1/batchnorm_1/beta": rng.normal(size=3),
        "dnn/hiddenlayer_1/batchnorm_1/moving_mean": rng.normal(size=3),
        "dnn/hiddenlayer_1/batchnorm_1/moving_variance": 1 + rng.random(3),
        "dnn/logits/kernel": rng.normal(size=(3, 1)), "dnn/logits/bias": rng.normal(size=1),
        "dnn/hiddenlayer_0/kernel/t_0/Adagrad": np.full((4, 4), 0.1),
        "linear/linear_model/a/weights": rng.normal(size=(1, 1)), "linear/linear_model/kind/weights": rng.normal(size=(2, 1)),
        "linear/linear_model/bias_weights": rng.normal(size=1),
        "linear/linear_model/a/weights/part_0/Ftrl": np.full((1, 1), 0.1),
    }
    with tf.Graph().as_default():
        for name, value in values.items():
            tf.compat.v1.get_variable(name, initializer=tf.constant(value.astype(np.float32)))
        tf.compat.v1.train.create_global_step()
        tf.compat.v1.get_variable("extra/strings", initializer=tf.constant([b"u", b"", b"a longer value"]), dtype=tf.string)
        tf.compat.v1.get_variable("extra/int32", initializer=tf.constant(np.arange(6, dtype=np.int32).reshape(2, 3)))
        tf.compat.v1.get_variable("extra/bfloat16", initializer=tf.constant([1.5, -2.0, 3.25], dtype=tf.bfloat16))
        assign = tf.compat.v1.assign(tf.compat.v1.train.get_global_step(), 100)
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            session.run(assign)
            saver.save(session, os.path.join(HERE, "model.ckpt"), global_step=100, write_meta_graph=False)
    reader = tf.train.load_checkpoint(HERE)
    expected = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    expected["extra/bfloat16"] = np.asarray(expected["extra/bfloat16"], dtype=np.float32)
    np.savez(os.path.join(HERE, "expected.npz"), **{name.replace("/", "|"): value for name, value in expected.items()})


if __name__ == "__main__":
    main()
