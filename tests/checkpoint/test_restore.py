"""Restoring: resume continuity across Estimators, the variables of the latest checkpoint,
evaluating an older checkpoint, and a model that no longer matches its checkpoint."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import torch_estimator as est

from .conftest import mlp_model_fn

_WEIGHTS = ["net.0.weight", "net.0.bias", "net.3.weight", "net.3.bias"]


def _build(make_estimator, model_dir, params, **config):
    config.setdefault("save_checkpoints_steps", 5)
    return make_estimator(mlp_model_fn, params=params, model_dir=str(model_dir), **config)


def _assert_same_checkpoints(first: est.Estimator, second: est.Estimator) -> None:
    """Every value of the two latest checkpoints is bit-identical (weights, optimizer, step, RNG)."""
    names = first.get_variable_names()
    assert second.get_variable_names() == names
    for name in _WEIGHTS:
        assert torch.equal(torch.from_numpy(first.get_variable_value(name)),
                           torch.from_numpy(second.get_variable_value(name))), name
    for name in names:
        assert np.array_equal(first.get_variable_value(name), second.get_variable_value(name)), name


@pytest.mark.parametrize("params", [{"optimizer": "Adam"}, {"optimizer": "Adam", "dropout": 0.5}],
                         ids=["adam", "adam-and-dropout"])
def test_resuming_in_a_new_estimator_is_bit_identical(make_estimator, full_batch, tmp_path, params):
    straight = _build(make_estimator, tmp_path / "straight", params)
    straight.train(full_batch, steps=10)
    _build(make_estimator, tmp_path / "split", params).train(full_batch, steps=5)
    resumed = _build(make_estimator, tmp_path / "split", params)  # a new process, as far as state goes
    resumed.train(full_batch, steps=5)
    assert resumed.get_variable_value("global_step") == 10
    _assert_same_checkpoints(straight, resumed)


def test_dropout_makes_the_continuity_test_meaningful(make_estimator, full_batch, tmp_path):
    # Without restoring the RNG, the resumed run would draw other dropout masks: check that
    # dropout does change the result here, so the bit-identical test above would notice.
    with_dropout = _build(make_estimator, tmp_path / "a", {"optimizer": "Adam", "dropout": 0.5})
    without = _build(make_estimator, tmp_path / "b", {"optimizer": "Adam"})
    for estimator in (with_dropout, without):
        estimator.train(full_batch, steps=3)
    assert not np.array_equal(with_dropout.get_variable_value("net.0.weight"),
                              without.get_variable_value("net.0.weight"))


def test_resuming_restores_the_optimizer_state(make_estimator, full_batch, tmp_path):
    _build(make_estimator, tmp_path, {"optimizer": "Adam"}).train(full_batch, steps=5)
    resumed = _build(make_estimator, tmp_path, {"optimizer": "Adam"})
    resumed.train(full_batch, steps=1)
    # Adam's step counter continues from the checkpoint's 5 rather than restarting at 1.
    assert resumed.get_variable_value("optimizer.optimizer.state.net.0.weight.step") == 6


def test_variables_of_the_latest_checkpoint(make_estimator, full_batch, regression, tmp_path):
    estimator = _build(make_estimator, tmp_path, {"optimizer": "Adam"})
    assert estimator.latest_checkpoint() is None
    with pytest.raises(ValueError, match=r"Couldn't find trained model\. Expected a checkpoint in .*"
                                         r"Train the estimator first"):
        estimator.get_variable_names()
    with pytest.raises(ValueError, match="Couldn't find trained model"):
        estimator.get_variable_value("net.0.weight")

    estimator.train(full_batch, steps=3)
    assert estimator.latest_checkpoint() == os.path.join(estimator.model_dir, "model.ckpt-3")
    names = estimator.get_variable_names()
    assert names == sorted(names)
    assert {*_WEIGHTS, "global_step", "rng.torch"} <= set(names)
    assert {f"optimizer.optimizer.state.{w}.{k}" for w in _WEIGHTS for k in ("step", "exp_avg", "exp_avg_sq")} \
        <= set(names)
    assert "optimizer.optimizer.param_groups.0.lr" in names
    assert estimator.get_variable_value("global_step") == 3
    assert estimator.get_variable_value("optimizer.optimizer.param_groups.0.lr") == 0.05

    # The values are the trained weights: predictions are this forward pass over them.
    w0, b0, w3, b3 = (estimator.get_variable_value(name) for name in _WEIGHTS)
    assert w0.dtype == np.float32 and w0.shape == (8, 3) and w3.shape == (1, 8)
    features, _ = regression
    predicted = next(estimator.predict(lambda: features, yield_single_examples=False))["y"]
    np.testing.assert_allclose(predicted, np.tanh(features["x"] @ w0.T + b0) @ w3.T + b3, rtol=1e-5, atol=1e-6)

    with pytest.raises(ValueError, match=r"The latest checkpoint has no variable 'net\.9\.weight'\. "
                                         r"Expected one of get_variable_names\(\)"):
        estimator.get_variable_value("net.9.weight")
    estimator.train(full_batch, steps=2)
    assert estimator.latest_checkpoint() == os.path.join(estimator.model_dir, "model.ckpt-5")
    assert not np.array_equal(estimator.get_variable_value("net.0.weight"), w0)


def test_evaluate_an_older_checkpoint_then_train_from_the_latest(make_estimator, full_batch, tmp_path):
    params = {"optimizer": "Adam", "dropout": 0.5}
    estimator = _build(make_estimator, tmp_path / "a", params, save_checkpoints_steps=2)
    estimator.train(full_batch, steps=6)
    older = os.path.join(estimator.model_dir, "model.ckpt-2")
    at_two = estimator.evaluate(full_batch, checkpoint_path=older)
    assert at_two["global_step"] == 2
    at_six = estimator.evaluate(full_batch)
    assert at_six["global_step"] == 6 and at_six["loss"] != at_two["loss"]
    assert estimator.evaluate(full_batch, checkpoint_path=older) == at_two

    estimator.train(full_batch, steps=2)  # from model.ckpt-6, not from the older weights in memory
    assert estimator.get_variable_value("global_step") == 8
    straight = _build(make_estimator, tmp_path / "b", params, save_checkpoints_steps=2)
    straight.train(full_batch, steps=8)
    _assert_same_checkpoints(straight, estimator)


def test_a_renamed_module_is_a_clear_error(make_estimator, train_input, eval_input):
    make_estimator(save_checkpoints_steps=2).train(train_input, steps=2)

    def renamed_model_fn(features, labels, mode):
        encoder = est.get_module("encoder", lambda: torch.nn.Linear(3, 1))
        loss = torch.nn.functional.mse_loss(encoder(features["x"]), labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))

    changed = make_estimator(renamed_model_fn)
    expected = (r"The checkpoint has no values for module 'encoder'\. Expected keys \['encoder.bias', "
                r"'encoder.weight'\] in .*model.ckpt-2\. .*The model changed since the checkpoint was written")
    with pytest.raises(est.CheckpointError, match=expected):
        changed.train(train_input, steps=1)
    with pytest.raises(est.CheckpointError, match=expected):
        changed.evaluate(eval_input)


def test_a_reshaped_module_is_a_clear_error(make_estimator, train_input):
    make_estimator(save_checkpoints_steps=2).train(train_input, steps=2)

    def wider_model_fn(features, labels, mode):
        net = est.get_module("net", lambda: torch.nn.Linear(3, 2))
        loss = torch.nn.functional.mse_loss(net(features["x"])[:, :1], labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))

    with pytest.raises(est.CheckpointError, match=r"Could not load module 'net' from .*model.ckpt-2\. Received: "
                                                  r"error='Size mismatch .* for model.net.(weight|bias)'\. "
                                                  r"Check that the model's shapes match the checkpoint"):
        make_estimator(wider_model_fn).train(train_input, steps=1)


def test_an_optimizer_over_other_parameters_is_a_clear_error_every_time(make_estimator, full_batch, tmp_path):
    _build(make_estimator, tmp_path, {"optimizer": "Adam"}).train(full_batch, steps=2)

    def head_only_model_fn(features, labels, mode):
        net = est.get_module("net", lambda: torch.nn.Sequential(
            torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Dropout(0.0), torch.nn.Linear(8, 1)))
        loss = torch.nn.functional.mse_loss(net(features["x"]), labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(
            loss, "Adam", var_list=net[3].parameters()))

    changed = make_estimator(head_only_model_fn, model_dir=str(tmp_path), save_checkpoints_steps=5)
    for _ in range(2):  # the failed restore is not forgotten: no silent fresh optimizer state
        with pytest.raises(est.CheckpointError, match=r"The checkpoint's optimizer 'optimizer' was made for "
                                                      r"other parameters\. Expected parameter groups "
                                                      r"\[\['net.3.weight', 'net.3.bias'\]\]"):
            changed.train(full_batch, steps=1)
    assert changed.get_variable_value("global_step") == 2


def test_evaluate_before_train_still_continues_the_training_rng(tmp_path):
    # A new Estimator that first evaluates (restoring weights without the RNG) must still resume
    # the saved random stream when it trains: dropout masks then match an uninterrupted run.
    def model_fn(features, labels, mode):
        net = est.get_module("net", lambda: torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Dropout(0.5),
                                                                 torch.nn.Linear(8, 1)))
        loss = torch.nn.functional.mse_loss(net(features), labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD", learning_rate=0.1))

    batch = (torch.ones(4, 3), torch.ones(4, 1))

    def estimator(directory):
        return est.Estimator(model_fn, model_dir=str(tmp_path / directory),
                             config=est.RunConfig(tf_random_seed=1, progress_bar=False))

    estimator("a").train(lambda: batch, steps=6)
    estimator("b").train(lambda: batch, steps=3)
    torch.manual_seed(12345)  # as in a new process: the global RNG is not where training left it
    resumed = estimator("b")
    resumed.evaluate(lambda: batch)
    resumed.train(lambda: batch, steps=3)
    assert np.array_equal(resumed.get_variable_value("net.0.weight"), estimator("a").get_variable_value("net.0.weight"))
