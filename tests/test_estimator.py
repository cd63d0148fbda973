"""Estimator.train / evaluate / predict: TensorFlow's semantics, end to end on a tiny model."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import torch_estimator as est
from conftest import linear_model_fn, make_regression


def test_train_returns_self_and_steps_are_incremental(make_estimator, train_input):
    estimator = make_estimator()
    assert estimator.train(train_input, steps=3) is estimator
    estimator.train(train_input, steps=4)
    assert estimator.evaluate(train_input, steps=1)["global_step"] == 7


def test_max_steps_is_absolute_and_a_noop_when_reached(make_estimator, train_input, caplog):
    estimator = make_estimator()
    estimator.train(train_input, max_steps=5)
    latest = estimator.latest_checkpoint()
    caplog.set_level("INFO", logger="torch_estimator")
    estimator.train(train_input, max_steps=5)
    assert "Skipping training since max_steps has already saved" in caplog.text
    assert estimator.latest_checkpoint() == latest
    estimator.train(train_input, max_steps=8)
    assert os.path.basename(estimator.latest_checkpoint()) == "model.ckpt-8"


def test_training_learns_and_evaluation_reports_plain_numbers(make_estimator, train_input, eval_input):
    estimator = make_estimator()
    before = estimator.evaluate(eval_input)
    estimator.train(train_input, steps=200)
    after = estimator.evaluate(eval_input)
    assert after["loss"] < before["loss"] / 100
    assert set(after) == {"loss", "average_loss", "rmse", "mae", "global_step"}
    assert all(type(value) in (float, int) for value in after.values())
    assert after["global_step"] == 200
    assert after["rmse"] == pytest.approx(after["average_loss"] ** 0.5, rel=1e-4)


def test_exhausted_input_ends_training(make_estimator, regression):
    features, labels = regression  # 64 rows / 16 = 4 batches per epoch
    estimator = make_estimator()
    estimator.train(est.inputs.numpy_input_fn(features, labels, batch_size=16, num_epochs=2, shuffle=False))
    assert estimator.get_variable_value("global_step") == 8


def test_empty_input_warns_made_no_steps(make_estimator, caplog):
    estimator = make_estimator()
    estimator.train(lambda: iter([]), steps=3)
    assert "made no steps" in caplog.text
    assert estimator.latest_checkpoint() is None


def test_single_batch_input_fn_is_repeated_for_training(make_estimator, regression):
    features, labels = regression
    estimator = make_estimator()
    estimator.train(lambda: (features, labels), steps=6)
    results = estimator.evaluate(lambda: (features, labels))
    assert results["global_step"] == 6


def test_average_loss_is_per_example_and_loss_per_batch(make_estimator):
    # Two batches of sizes 3 and 1 with constant per-example errors 1 and 3:
    # per-batch MSEs are 1 and 9 -> loss = (1 + 9) / 2 = 5; average_loss = (3*1 + 1*9) / 4 = 3.
    def model_fn(features, labels, mode):
        est.get_module("net", lambda: torch.nn.Linear(1, 1))
        loss = torch.mean((features - labels) ** 2)
        return est.EstimatorSpec(mode, loss=loss)

    batches = [(torch.ones(3, 1), torch.zeros(3, 1)), (torch.full((1, 1), 3.0), torch.zeros(1, 1))]
    estimator = est.Estimator(model_fn, model_dir=make_estimator().model_dir,
                              config=est.RunConfig(progress_bar=False))
    results = estimator.evaluate(lambda: batches)
    assert results["loss"] == pytest.approx(5.0)
    assert results["average_loss"] == pytest.approx(3.0)


def test_evaluate_without_checkpoint_uses_fresh_weights(make_estimator, eval_input, caplog):
    caplog.set_level("INFO", logger="torch_estimator")
    results = make_estimator().evaluate(eval_input)
    assert results["global_step"] == 0
    assert "Evaluating without a checkpoint" in caplog.text


def test_evaluate_writes_to_eval_dir_and_named_eval_dir(make_estimator, train_input, eval_input):
    estimator = make_estimator()
    estimator.train(train_input, steps=2)
    estimator.evaluate(eval_input)
    estimator.evaluate(eval_input, name="holdout")
    assert estimator.eval_dir() == os.path.join(estimator.model_dir, "eval")
    assert estimator.eval_dir("holdout") == os.path.join(estimator.model_dir, "eval_holdout")
    for directory in (estimator.eval_dir(), estimator.eval_dir("holdout")):
        assert any(name.startswith("events.out.tfevents") for name in os.listdir(directory))


def test_predict_yields_single_examples_and_batches(make_estimator, train_input, regression):
    features, _ = regression
    estimator = make_estimator()
    estimator.train(train_input, steps=5)
    predict_input = est.inputs.numpy_input_fn(features, batch_size=10, shuffle=False)
    examples = list(estimator.predict(predict_input))
    assert len(examples) == 64 and set(examples[0]) == {"y", "double"}
    assert examples[0]["y"].shape == (1,)
    batches = list(estimator.predict(predict_input, yield_single_examples=False))
    assert [len(batch["y"]) for batch in batches] == [10] * 6 + [4]
    np.testing.assert_allclose(np.concatenate([b["y"] for b in batches]), np.stack([e["y"] for e in examples]))
    only = next(estimator.predict(predict_input, predict_keys="double"))
    assert set(only) == {"double"}


def test_predict_matches_module_and_accepts_features_labels_tuples(make_estimator, train_input, regression):
    features, labels = regression
    estimator = make_estimator()
    estimator.train(train_input, steps=5)
    weight = estimator.get_variable_value("net.weight")
    bias = estimator.get_variable_value("net.bias")
    predictions = next(estimator.predict(lambda: (features, labels), yield_single_examples=False))
    np.testing.assert_allclose(predictions["y"], features["x"] @ weight.T + bias, rtol=1e-5, atol=1e-6)


def test_predict_generators_can_be_interleaved(make_estimator, train_input, regression):
    features, _ = regression
    estimator = make_estimator()
    estimator.train(train_input, steps=3)
    predict_input = est.inputs.numpy_input_fn(features, batch_size=8, shuffle=False)
    first, second = estimator.predict(predict_input), estimator.predict(predict_input)
    interleaved = [(next(first)["y"], next(second)["y"]) for _ in range(20)]
    assert all(np.array_equal(a, b) for a, b in interleaved)


def test_predict_with_an_older_checkpoint_path(make_estimator, train_input, regression):
    features, _ = regression
    estimator = make_estimator(save_checkpoints_steps=2)
    estimator.train(train_input, steps=4)
    older = os.path.join(estimator.model_dir, "model.ckpt-2")
    predict_input = est.inputs.numpy_input_fn(features, batch_size=64, shuffle=False)
    old = next(estimator.predict(predict_input, checkpoint_path=older, yield_single_examples=False))["y"]
    new = next(estimator.predict(predict_input, yield_single_examples=False))["y"]
    assert not np.allclose(old, new)
    weight = estimator.get_variable_value("net.weight")
    np.testing.assert_allclose(new, features["x"] @ weight.T + estimator.get_variable_value("net.bias"), rtol=1e-5)


def test_model_is_resident_across_calls(make_estimator, train_input, eval_input, monkeypatch):
    estimator = make_estimator()
    estimator.train(train_input, steps=2)
    calls = []
    monkeypatch.setattr(est.estimator.TrainState, "restore", lambda *a, **k: calls.append(a))
    estimator.evaluate(eval_input)
    list(estimator.predict(eval_input))
    estimator.train(train_input, steps=2)
    assert calls == []


def test_a_second_estimator_resumes_from_the_checkpoint(make_estimator, train_input, eval_input):
    first = make_estimator()
    first.train(train_input, steps=10)
    expected = first.evaluate(eval_input)
    second = make_estimator()
    assert second.evaluate(eval_input) == pytest.approx(expected)
    second.train(train_input, steps=5)
    assert second.get_variable_value("global_step") == 15


def test_get_variable_names_and_values(make_estimator, train_input):
    estimator = make_estimator(params={"optimizer": "Adam"})
    with pytest.raises(ValueError, match="Couldn't find trained model"):
        estimator.get_variable_names()
    estimator.train(train_input, steps=3)
    names = estimator.get_variable_names()
    assert {"net.weight", "net.bias", "global_step"} <= set(names)
    assert any(name.startswith("optimizer.optimizer.state.net.weight.exp_avg") for name in names)
    assert estimator.get_variable_value("net.weight").shape == (1, 3)
    with pytest.raises(ValueError, match="has no variable 'nope'"):
        estimator.get_variable_value("nope")


def test_properties_are_copies(make_estimator):
    estimator = make_estimator(params={"lr": 0.1})
    estimator.params["lr"] = 99
    assert estimator.params == {"lr": 0.1}
    assert estimator.config.tf_random_seed == 0
    assert estimator.model_fn is linear_model_fn


def test_steps_and_max_steps_validation(make_estimator, train_input):
    estimator = make_estimator()
    with pytest.raises(ValueError, match="Can not provide both steps and max_steps"):
        estimator.train(train_input, steps=1, max_steps=2)
    with pytest.raises(ValueError, match=r"Must specify steps > 0.*steps=0"):
        estimator.train(train_input, steps=0)
    with pytest.raises(ValueError, match=r"Must specify max_steps > 0.*max_steps=-1"):
        estimator.train(train_input, max_steps=-1)
    with pytest.raises(ValueError, match="Must specify steps > 0"):
        estimator.evaluate(train_input, steps=0)


def test_model_dir_resolution(tmp_path, caplog):
    config = est.RunConfig(model_dir=str(tmp_path / "a"))
    assert est.Estimator(linear_model_fn, config=config, params={}).model_dir == str(tmp_path / "a")
    with pytest.raises(ValueError, match="model_dir are set both in constructor and RunConfig"):
        est.Estimator(linear_model_fn, model_dir=str(tmp_path / "b"), config=config, params={})
    with pytest.raises(ValueError, match="model_dir should be non-empty"):
        est.Estimator(linear_model_fn, model_dir="", params={})
    estimator = est.Estimator(linear_model_fn, params={})
    assert "Using temporary folder as model directory" in caplog.text
    assert os.path.isdir(estimator.model_dir)


def test_unwritable_model_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match=r"model_dir is not writable.*Received: model_dir=.*file/model"):
        est.Estimator(linear_model_fn, model_dir=str(blocker / "model"), params={})


def test_config_must_be_a_run_config(tmp_path):
    with pytest.raises(ValueError, match="config must be an est.RunConfig"):
        est.Estimator(linear_model_fn, model_dir=str(tmp_path), config={"tf_random_seed": 1}, params={})


def test_train_refuses_evaluator_and_ps_tasks(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, '
                                    '"task": {"type": "evaluator", "index": 0}}')
    estimator = est.Estimator(linear_model_fn, model_dir=str(tmp_path), params={})
    with pytest.raises(ValueError, match="Train has been called with task_type 'evaluator'"):
        estimator.train(lambda: ({"x": torch.ones(2, 3)}, torch.ones(2, 1)), steps=1)


def test_features_missing_a_key_is_readable(make_estimator):
    estimator = make_estimator()
    with pytest.raises(KeyError) as info:
        estimator.train(lambda: ({"z": torch.ones(2, 3)}, torch.ones(2, 1)), steps=1)
    text = str(info.value)
    assert "model_fn read feature 'x', which the input does not have" in text
    assert "['z']" in text and "\\n" not in text


def test_float64_numpy_features_are_converted(make_estimator):
    features, labels = make_regression()
    estimator = make_estimator()
    estimator.train(lambda: ({"x": features["x"].astype(np.float64)}, labels.astype(np.float64)), steps=2)
    assert estimator.get_variable_value("global_step") == 2
