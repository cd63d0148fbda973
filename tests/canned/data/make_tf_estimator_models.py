"""Writes tests/canned/data/tf_estimator/<name>/: model_dirs of TF Estimator's own canned
estimators, for the fidelity tests in tests/canned/test_tensorflow_fidelity.py.

Needs TensorFlow 2.15 and tensorflow-estimator 2.15 (the last releases with Estimator), which
the project does not depend on; run once by hand in a separate environment
(`pip install tensorflow-cpu==2.15.1 tensorflow-estimator==2.15.0`), then commit the files:

    python tests/canned/data/make_tf_estimator_models.py

Each estimator trains 5 steps with its default optimizer on rows.py's data (batches of 8 rows in
order, so the steps alternate the two halves), then evaluates on all 16 rows. Kept: the
`checkpoint` index, the checkpoints at steps 0 and 5, evaluate's results in one batch
(eval.json) and in batches of 5 rows (eval_batches_of_5.json), and predict's for the first 4
rows (predictions.json).
"""

import json
import os
import shutil
import tempfile

import tensorflow as tf
from rows import data  # this folder's rows.py, shared with the tests

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_estimator")


def estimators(model_dir):
    fc = tf.feature_column
    kind = fc.categorical_column_with_vocabulary_list("kind", ["u", "v", "w"])
    numeric = [fc.numeric_column("a"), fc.numeric_column("b")]
    config = tf.estimator.RunConfig(tf_random_seed=0)
    return {
        "dnn_binary": ("binary", lambda: tf.estimator.DNNClassifier(
            [4], numeric + [fc.indicator_column(kind)], model_dir=model_dir, config=config)),
        "dnn_multiclass": ("multiclass", lambda: tf.estimator.DNNClassifier(
            [4], numeric + [fc.embedding_column(kind, 2)], model_dir=model_dir, n_classes=3, config=config)),
        "dnn_regressor": ("regression", lambda: tf.estimator.DNNRegressor(
            [4, 3], numeric + [fc.embedding_column(kind, 2)], model_dir=model_dir, config=config)),
        "linear_regressor": ("regression", lambda: tf.estimator.LinearRegressor(
            numeric + [kind], model_dir=model_dir, config=config)),
        "linear_classifier": ("binary", lambda: tf.estimator.LinearClassifier(
            numeric + [kind], model_dir=model_dir, config=config)),
        "baseline_classifier": ("multiclass", lambda: tf.estimator.BaselineClassifier(
            model_dir=model_dir, n_classes=3, config=config)),
        "dnn_weighted_names": ("names", lambda: tf.estimator.DNNClassifier(
            [4], numeric + [fc.indicator_column(kind)], model_dir=model_dir, n_classes=3, weight_column="w",
            label_vocabulary=["lo", "mid", "hi"], config=config)),
        "linear_bucketized": ("binary", lambda: tf.estimator.LinearClassifier(
            [fc.bucketized_column(numeric[0], [-1.0, 0.0, 1.0]), numeric[1], kind], model_dir=model_dir,
            weight_column="w", config=config)),
        "dnn_multilabel": ("multilabel", lambda: tf.estimator.DNNEstimator(
            tf.estimator.MultiLabelHead(3), [4], numeric + [fc.indicator_column(kind)], model_dir=model_dir,
            config=config)),
        "dnn_poisson": ("counts", lambda: tf.estimator.DNNEstimator(
            tf.estimator.PoissonRegressionHead(), [4], numeric, model_dir=model_dir, config=config)),
        "dnn_two_labels": ("pair", lambda: tf.estimator.DNNRegressor(
            [4], numeric, model_dir=model_dir, label_dimension=2, config=config)),
        "dnn_adam": ("regression", lambda: tf.estimator.DNNRegressor(
            [4], numeric, model_dir=model_dir, optimizer="Adam", config=config)),
        "dnn_rmsprop": ("regression", lambda: tf.estimator.DNNRegressor(
            [4], numeric, model_dir=model_dir, optimizer="RMSProp", config=config)),
        "dnn_sgd": ("regression", lambda: tf.estimator.DNNRegressor(
            [4], numeric, model_dir=model_dir, optimizer="SGD", config=config)),
        "linear_adagrad": ("regression", lambda: tf.estimator.LinearRegressor(
            numeric + [kind], model_dir=model_dir, optimizer="Adagrad", config=config)),
        "wide_deep_classifier": ("binary", lambda: tf.estimator.DNNLinearCombinedClassifier(
            model_dir=model_dir, linear_feature_columns=[kind], dnn_feature_columns=numeric, dnn_hidden_units=[4],
            config=config)),
        "dnn_more_columns": ("multiclass", lambda: tf.estimator.DNNClassifier(
            [4], more_columns(fc, kind), model_dir=model_dir, n_classes=3, config=config)),
        **{f"linear_tags_{combiner}": ("regression", lambda combiner=combiner: tf.estimator.LinearRegressor(
            [fc.categorical_column_with_vocabulary_list("tags", ["u", "v", "w"]), numeric[0]], model_dir=model_dir,
            sparse_combiner=combiner, config=config)) for combiner in ("sum", "mean", "sqrtn")},
        "dnn_thresholds": ("binary", lambda: tf.estimator.DNNEstimator(
            tf.estimator.BinaryClassHead(thresholds=[0.3, 0.7]), [4], numeric, model_dir=model_dir, config=config)),
        "linear_sum_loss": ("regression", lambda: tf.estimator.LinearEstimator(
            tf.estimator.RegressionHead(loss_reduction=tf.keras.losses.Reduction.SUM), numeric + [kind],
            model_dir=model_dir, config=config)),
        "baseline_regressor_weighted": ("regression", lambda: tf.estimator.BaselineRegressor(
            model_dir=model_dir, weight_column="w", config=config)),
        "linear_multiclass_names": ("names", lambda: tf.estimator.LinearClassifier(
            numeric + [kind], model_dir=model_dir, n_classes=3, label_vocabulary=["lo", "mid", "hi"], config=config)),
        "dnn_tanh": ("regression", lambda: tf.estimator.DNNRegressor(
            [4, 3], numeric, model_dir=model_dir, activation_fn=tf.nn.tanh, config=config)),
        "wide_deep_weighted": ("regression", lambda: tf.estimator.DNNLinearCombinedRegressor(
            model_dir=model_dir, linear_feature_columns=numeric + [kind], dnn_feature_columns=numeric,
            dnn_hidden_units=[4], weight_column="w", config=config)),
        "dnn_tags": ("regression", lambda: tf.estimator.DNNRegressor(
            [4], [fc.embedding_column(fc.categorical_column_with_vocabulary_list("tags", ["u", "v", "w"]), 2,
                                      combiner="sqrtn"), fc.indicator_column(kind)], model_dir=model_dir,
            config=config)),
    }


def more_columns(fc, kind):
    """Identity, vocabulary-file and weighted columns (vocabulary.txt beside this file). (Shared
    embeddings cannot be made in TF 2's eager mode, where the estimators' columns are built.)"""
    ids = fc.categorical_column_with_identity("id", num_buckets=4, default_value=0)
    names = fc.categorical_column_with_vocabulary_file(
        "kind", os.path.join(os.path.dirname(HERE), "vocabulary.txt"), num_oov_buckets=1)
    weighted = fc.weighted_categorical_column(kind, "w")
    return [fc.numeric_column("a"), fc.indicator_column(weighted), fc.embedding_column(ids, 2),
            fc.embedding_column(names, 2)]


def main() -> None:
    x, labels = data()
    numpy_input_fn = tf.compat.v1.estimator.inputs.numpy_input_fn
    shutil.rmtree(HERE, ignore_errors=True)
    for name in estimators(None):
        model_dir = tempfile.mkdtemp()
        problem, make = estimators(model_dir)[name]
        estimator = make()
        estimator.train(numpy_input_fn(x, labels[problem], batch_size=8, num_epochs=None, shuffle=False), steps=5)
        metrics = estimator.evaluate(numpy_input_fn(x, labels[problem], batch_size=16, shuffle=False))
        batched = estimator.evaluate(numpy_input_fn(x, labels[problem], batch_size=5, shuffle=False))
        predictions = list(estimator.predict(numpy_input_fn({k: v[:4] for k, v in x.items()}, batch_size=4,
                                                            shuffle=False)))
        target = os.path.join(HERE, name)
        os.makedirs(target)
        for file in ("checkpoint", "model.ckpt-0.index", "model.ckpt-0.data-00000-of-00001", "model.ckpt-5.index",
                     "model.ckpt-5.data-00000-of-00001"):
            shutil.copy(os.path.join(model_dir, file), target)
        with open(os.path.join(target, "eval.json"), "w") as file:
            json.dump({key: float(value) for key, value in metrics.items()}, file, indent=1, sort_keys=True)
        with open(os.path.join(target, "eval_batches_of_5.json"), "w") as file:
            json.dump({key: float(value) for key, value in batched.items()}, file, indent=1, sort_keys=True)
        with open(os.path.join(target, "predictions.json"), "w") as file:
            json.dump([{key: _plain(value) for key, value in row.items()} for row in predictions], file, indent=1)


def _plain(value):
    """A prediction as JSON: numbers as lists, TensorFlow's byte strings as text."""
    value = value.tolist()
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [item.decode() for item in value]
    return value.decode() if isinstance(value, bytes) else value


if __name__ == "__main__":
    main()
