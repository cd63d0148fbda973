"""Tests for reading TensorFlow checkpoints and warm-starting from them.

The fixture in data/tf_wide_deep/ was written by TensorFlow 2.21 (data/make_tf_checkpoint.py):
a wide & deep regressor's variables under TF Estimator's names, plus optimizer slots and
string, int32 and bfloat16 variables; expected.npz holds what TensorFlow's own reader returned.
Its ``checkpoint`` file names the prefix by the absolute path it was written at, so every run
from another folder also tests that a moved model_dir is read.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

import numpy as np
import pytest
import torch

import torch_estimator as est
from torch_estimator.checkpoint.tf_checkpoint import read_tf_checkpoint, tf_checkpoint_prefix, tf_variable_name

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tf_wide_deep")
PREFIX = os.path.join(FIXTURE, "model.ckpt-100")
fc = est.feature_column


def _expected() -> dict[str, np.ndarray]:
    with np.load(os.path.join(FIXTURE, "expected.npz"), allow_pickle=True) as saved:
        return {key.replace("|", "/"): saved[key] for key in saved.files}


@pytest.mark.parametrize("path", [FIXTURE, PREFIX], ids=["model_dir", "prefix"])
def test_every_variable_reads_as_tensorflows_own_reader_returns_it(path):
    variables, expected = read_tf_checkpoint(path), _expected()
    assert sorted(variables) == sorted(expected) and len(variables) == 24
    for name, value in expected.items():
        assert variables[name].shape == value.shape, name
        if value.dtype == object:
            assert variables[name].tolist() == value.tolist(), name
        else:
            assert variables[name].dtype == value.dtype and np.array_equal(variables[name], value), name
    assert variables["global_step"] == 100 and variables["extra/strings"].tolist() == [b"u", b"", b"a longer value"]
    assert variables["extra/bfloat16"].tolist() == [1.5, -2.0, 3.25]


def test_a_moved_model_dir_reads_its_own_copy(tmp_path):
    moved = shutil.copytree(FIXTURE, tmp_path / "moved")
    assert tf_checkpoint_prefix(str(moved)) == os.path.join(moved, "model.ckpt-100")
    assert tf_checkpoint_prefix(str(tmp_path)) is None


def test_damaged_or_foreign_files_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"^Not a TensorFlow checkpoint\. Expected a checkpoint prefix with a "
                                         r"\.index file, .* Received: path='.*'\. Pass e\.g\."):
        read_tf_checkpoint(str(tmp_path))
    copy = shutil.copytree(FIXTURE, tmp_path / "copy")
    data = os.path.join(copy, "model.ckpt-100.data-00000-of-00001")
    raw = bytearray(open(data, "rb").read())
    raw[10] ^= 0xFF
    open(data, "wb").write(bytes(raw))
    with pytest.raises(ValueError, match=r"Variable '.*' fails its checksum\. Expected an intact data file\."):
        read_tf_checkpoint(str(copy))
    index = os.path.join(copy, "model.ckpt-100.index")
    open(index, "wb").write(b"\0" * 64)
    with pytest.raises(ValueError, match=r"The checkpoint index is not a TensorFlow table\. Expected the table magic"):
        read_tf_checkpoint(str(copy))


def test_a_partitioned_variable_is_refused_with_its_name():
    from torch_estimator.checkpoint import tf_checkpoint

    entry = {1: [1], 7: [b""]}  # a BundleEntryProto with slices: TensorFlow's partitioned variable
    with pytest.raises(ValueError, match=r"Variable 'w' is partitioned\. Expected unpartitioned variables"):
        tf_checkpoint._tensor("w", entry, PREFIX, 1, {})


KIND = fc.categorical_column_with_vocabulary_list("kind", ["u", "v"])
DNN_COLUMNS = [fc.numeric_column("a"), fc.numeric_column("b"), fc.embedding_column(KIND, 2)]


def _frozen_sgd(params):
    return torch.optim.SGD(params, lr=0.0)  # one training step creates the modules, changes nothing


def _data():
    x = {"a": np.array([0.5, -1.0, 2.0]), "b": np.array([1.0, 0.0, -0.5]), "kind": np.array(["u", "v", "v"])}
    return x, np.zeros((3, 1), np.float32)


def test_a_wide_and_deep_model_warm_starts_from_tensorflows_names():
    x, y = _data()
    settings = est.WarmStartSettings(FIXTURE, vars_to_warm_start=[".*"])  # a list: buffers (BN statistics) too
    regressor = est.DNNLinearCombinedRegressor(
        tempfile.mkdtemp(), linear_feature_columns=[fc.numeric_column("a"), KIND], linear_optimizer=_frozen_sgd,
        dnn_feature_columns=DNN_COLUMNS, dnn_hidden_units=[4, 3], dnn_optimizer=_frozen_sgd, batch_norm=True,
        warm_start_from=settings, config=est.RunConfig(progress_bar=False))
    regressor.train(est.inputs.numpy_input_fn(x, y, batch_size=3, shuffle=False), steps=1)
    tf = _expected()
    pairs = {"dnn.hidden.0.weight": tf["dnn/hiddenlayer_0/kernel"].T, "dnn.hidden.1.bias": tf["dnn/hiddenlayer_1/bias"],
             "dnn.logits.weight": tf["dnn/logits/kernel"].T,
             "dnn.norms.1.weight": tf["dnn/hiddenlayer_1/batchnorm_1/gamma"],
             "dnn/input_from_feature_columns.kind_embedding/embedding_weights":
                 tf["dnn/input_from_feature_columns/input_layer/kind_embedding/embedding_weights"],
             "linear/linear_model.kind/weights": tf["linear/linear_model/kind/weights"],
             "linear/linear_model.bias_weights": tf["linear/linear_model/bias_weights"]}
    for ours, theirs in pairs.items():
        assert np.array_equal(regressor.get_variable_value(ours), theirs), ours
    # The moving statistics were loaded, then moved by the training step's batch (momentum 0.001).
    np.testing.assert_allclose(regressor.get_variable_value("dnn.norms.0.running_var"),
                               tf["dnn/hiddenlayer_0/batchnorm_0/moving_variance"], rtol=0.01)
    assert regressor.get_variable_value("global_step") == 1  # training's own, not TensorFlow's 100


def test_a_warm_started_network_predicts_what_tensorflows_weights_compute():
    x, y = _data()
    regressor = est.DNNRegressor([4, 3], DNN_COLUMNS, model_dir=tempfile.mkdtemp(), optimizer=_frozen_sgd,
                                 warm_start_from=PREFIX, config=est.RunConfig(progress_bar=False))
    regressor.train(est.inputs.numpy_input_fn(x, y, batch_size=3, shuffle=False), steps=1)
    tf = _expected()
    embedding = tf["dnn/input_from_feature_columns/input_layer/kind_embedding/embedding_weights"]
    inputs = np.column_stack([x["a"], x["b"], embedding[(x["kind"] == "v").astype(int)]])  # columns by name
    hidden = np.maximum(inputs @ tf["dnn/hiddenlayer_0/kernel"] + tf["dnn/hiddenlayer_0/bias"], 0)
    hidden = np.maximum(hidden @ tf["dnn/hiddenlayer_1/kernel"] + tf["dnn/hiddenlayer_1/bias"], 0)
    expected = (hidden @ tf["dnn/logits/kernel"] + tf["dnn/logits/bias"]).ravel()
    predict_fn = est.inputs.numpy_input_fn(x, batch_size=3, shuffle=False)
    predicted = [p["predictions"][0] for p in regressor.predict(predict_fn)]
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-6)


def test_missing_or_misshapen_tensorflow_variables_are_named():
    x, y = _data()
    wider = est.DNNRegressor([5], DNN_COLUMNS, model_dir=tempfile.mkdtemp(), warm_start_from=FIXTURE,
                             config=est.RunConfig(progress_bar=False))
    with pytest.raises(ValueError, match=re.escape("warm_start_from's TensorFlow checkpoint has weights of other "
                                                   "shapes.") + r".*dnn\.hidden\.0\.weight: \(5, 4\) vs "
                                                   r"dnn/hiddenlayer_0/kernel: \(4, 4\)"):
        wider.train(est.inputs.numpy_input_fn(x, y, batch_size=3, shuffle=False), steps=1)
    renamed = est.WarmStartSettings(FIXTURE, var_name_to_prev_var_name={"dnn.logits.bias": "dnn/logits/bias2"})
    regressor = est.DNNRegressor([4, 3], DNN_COLUMNS, model_dir=tempfile.mkdtemp(), warm_start_from=renamed,
                                 config=est.RunConfig(progress_bar=False))
    with pytest.raises(ValueError, match=r"warm_start_from selects weights that the TensorFlow checkpoint does not "
                                         r"have\. .* missing=\['dnn\.logits\.bias \(as dnn/logits/bias2\)'\].*"
                                         r"var_name_to_prev_var_name"):
        regressor.train(est.inputs.numpy_input_fn(x, y, batch_size=3, shuffle=False), steps=1)


def test_formats_the_reader_does_not_take_are_named(monkeypatch):
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    from torch_estimator.checkpoint import tf_checkpoint

    contents = b"block"
    block = contents + b"\x01" + masked_crc32c(contents + b"\x01").to_bytes(4, "little")  # kind 1: Snappy
    with pytest.raises(ValueError, match=r"The checkpoint index is compressed\. Expected an uncompressed table, as "
                                         r"TensorFlow writes them\. Received: compression=1"):
        tf_checkpoint._block(block, 0, len(contents), "x.index")
    shards = {}
    with pytest.raises(ValueError, match=r"Variable 'w' has an unsupported dtype\. Expected one of TensorFlow's "
                                         r"DataType codes \[.*\]\. Received: dtype=99"):
        tf_checkpoint._tensor("w", {1: [99], 3: [0], 4: [0], 5: [4]}, PREFIX, 1, shards)
    shards[0].close()
    header = {1: [1], 2: [1]}  # BundleHeaderProto: one shard, BIG endianness
    monkeypatch.setattr(tf_checkpoint, "_table_entries", lambda table, path: iter([(b"", b"")]))
    monkeypatch.setattr(tf_checkpoint, "_fields", lambda data: header)
    with pytest.raises(ValueError, match=r"The checkpoint is big-endian\. Expected a little-endian checkpoint"):
        read_tf_checkpoint(PREFIX)


# TF Estimator's own DNNLinearCombinedRegressor (TF 2.15; data/make_tf_estimator_checkpoint.py):
# its initial weights (step 0), its weights after 5 steps on one batch of these 4 rows with the
# default optimizers (DNN Adagrad 0.001, linear FTRL 0.005), and its predictions then.
TF_ESTIMATOR = os.path.join(os.path.dirname(FIXTURE), "tf_estimator_wide_deep")
TF_ESTIMATOR_X = {"a": np.array([0.5, -1.0, 2.0, 0.1]), "b": np.array([1.0, 0.0, -0.5, 0.3]),
                  "kind": np.array(["u", "v", "v", "u"])}


def _wide_deep_from(path: str) -> est.Estimator:
    """Our DNNLinearCombinedRegressor with TF Estimator's columns, warm-started from ``path``."""
    return est.DNNLinearCombinedRegressor(
        tempfile.mkdtemp(), linear_feature_columns=[fc.numeric_column("a"), KIND], dnn_feature_columns=DNN_COLUMNS,
        dnn_hidden_units=[4, 3], batch_norm=True, config=est.RunConfig(progress_bar=False),
        warm_start_from=est.WarmStartSettings(path, vars_to_warm_start=[".*"]))  # buffers (BN statistics) too


def _predictions(regressor: est.Estimator) -> list[float]:
    input_fn = est.inputs.numpy_input_fn(TF_ESTIMATOR_X, batch_size=4, shuffle=False)
    return [p["predictions"][0] for p in regressor.predict(input_fn)]


def test_a_tf_estimator_model_dir_warm_starts_our_canned_estimator_to_its_predictions():
    # Every name the mapping assumes is the one TensorFlow's canned estimators really used. No
    # training: predict makes the modules, warm-started.
    expected = np.load(os.path.join(TF_ESTIMATOR, "predictions.npy"))
    np.testing.assert_allclose(_predictions(_wide_deep_from(TF_ESTIMATOR)), expected, rtol=1e-5, atol=1e-7)


def test_trained_from_tensorflows_initial_weights_ours_ends_where_tf_estimator_ended():
    # Started from TF's step 0, the same 5 steps land on TF's step 5: the head's loss, both
    # optimizers and batch norm (moving statistics included) are TensorFlow's.
    regressor = _wide_deep_from(os.path.join(TF_ESTIMATOR, "model.ckpt-0"))
    x, model_dir = TF_ESTIMATOR_X, TF_ESTIMATOR
    y = np.array([1.0, 0.0, 2.0, 0.5], np.float32)
    regressor.train(est.inputs.numpy_input_fn(x, y, batch_size=4, num_epochs=None, shuffle=False), steps=5)
    tf_start, tf_end = read_tf_checkpoint(os.path.join(model_dir, "model.ckpt-0")), read_tf_checkpoint(model_dir)
    compared = 0
    for name in regressor.get_variable_names():
        tf_name = tf_variable_name(name)
        if tf_name not in tf_end:
            continue
        theirs, start = tf_end[tf_name], tf_start[tf_name]
        if tf_name.endswith("/kernel"):
            theirs, start = theirs.T, start.T
        assert np.abs(theirs - start).max() > 1e-3, name  # every compared weight moved in the 5 steps
        np.testing.assert_allclose(regressor.get_variable_value(name), theirs, rtol=0, atol=1e-6, err_msg=name)
        compared += 1
    assert compared == 19  # 6 dense, 8 batch norm (moving statistics too), 1 embedding, 3 linear, global_step
    np.testing.assert_allclose(_predictions(regressor), np.load(os.path.join(model_dir, "predictions.npy")),
                               rtol=1e-5, atol=1e-6)
