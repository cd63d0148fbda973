"""est.train.minimize and the escape hatch, through real training runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator as est

BATCH = (torch.ones(4, 2), torch.full((4, 1), 3.0))


def test_learning_rate_computed_in_model_fn_is_a_schedule(make_estimator):
    seen = []

    def model_fn(features, labels, mode):
        net = est.get_module("net", lambda: torch.nn.Linear(2, 1))
        step = est.train.get_global_step()
        loss = torch.nn.functional.mse_loss(net(features), labels)
        lr = 0.1 * 0.5 ** step
        op = est.train.minimize(loss, "SGD", learning_rate=lr)
        seen.append((step, lr))
        return est.EstimatorSpec(mode, loss=loss, train_op=op)

    estimator = make_estimator(model_fn=model_fn)
    estimator.train(lambda: BATCH, steps=3)
    assert seen == [(0, 0.1), (1, 0.05), (2, 0.025)]
    assert estimator._state.optimizers["optimizer"].param_groups[0]["lr"] == 0.025


def test_clip_norm_bounds_the_update(make_estimator):
    def model_fn(features, labels, mode, params):
        net = est.get_module("net", lambda: torch.nn.Linear(2, 1, bias=False))
        loss = 1000.0 * torch.nn.functional.mse_loss(net(features), labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(
            loss, "SGD", learning_rate=1.0, clip_norm=params["clip"]))

    estimator = make_estimator(model_fn=model_fn, params={"clip": 0.5})
    estimator.train(lambda: BATCH, steps=1)
    first = estimator.get_variable_value("net.weight")
    estimator.train(lambda: BATCH, steps=1)
    # SGD with lr 1 moves the weights by exactly the clipped gradient, whose norm is 0.5.
    assert np.linalg.norm(estimator.get_variable_value("net.weight") - first) == pytest.approx(0.5, rel=1e-5)


def test_var_list_limits_the_update_to_those_parameters(make_estimator):
    def model_fn(features, labels, mode):
        first = est.get_module("first", lambda: torch.nn.Linear(2, 2))
        second = est.get_module("second", lambda: torch.nn.Linear(2, 1))
        loss = torch.nn.functional.mse_loss(second(first(features)), labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(
            loss, "Adam", learning_rate=0.01, var_list=second.parameters(), name="head_only"))

    estimator = make_estimator(model_fn=model_fn)
    estimator.train(lambda: BATCH, steps=1)
    first_weight, second_weight = (estimator.get_variable_value(n) for n in ("first.weight", "second.weight"))
    estimator.train(lambda: BATCH, steps=3)
    assert np.array_equal(estimator.get_variable_value("first.weight"), first_weight)
    assert not np.array_equal(estimator.get_variable_value("second.weight"), second_weight)
    names = estimator.get_variable_names()
    assert any(name.startswith("optimizer.head_only.state.second.weight") for name in names)
    assert not any(name.startswith("optimizer.head_only.state.first") for name in names)


def test_gan_style_escape_hatch_checkpoints_its_optimizers(make_estimator, tmp_path):
    def model_fn(features, labels, mode):
        net = est.get_module("net", lambda: torch.nn.Linear(2, 1))
        opt = est.train.get_optimizer("custom", lambda: torch.optim.Adam(net.parameters(), lr=0.1))
        loss = torch.nn.functional.mse_loss(net(features), labels)

        def train_op():
            opt.zero_grad()
            loss.backward()
            opt.step()

        return est.EstimatorSpec(mode, loss=loss, train_op=train_op)

    first = make_estimator(model_fn=model_fn, model_dir=str(tmp_path / "a"))
    first.train(lambda: BATCH, steps=4)
    split = make_estimator(model_fn=model_fn, model_dir=str(tmp_path / "b"))
    split.train(lambda: BATCH, steps=2)
    make_estimator(model_fn=model_fn, model_dir=str(tmp_path / "b")).train(lambda: BATCH, steps=2)
    assert "optimizer.custom.state.net.weight.exp_avg" in first.get_variable_names()
    assert np.array_equal(first.get_variable_value("net.weight"), split.get_variable_value("net.weight"))


def test_minimize_errors():
    with pytest.raises(ValueError, match="minimize needs a scalar loss tensor.*loss=\\(3,\\)"):
        est.train.minimize(torch.ones(3), "SGD")
    with pytest.raises(ValueError, match="clip_norm must be a positive number.*clip_norm=0"):
        est.train.minimize(torch.tensor(1.0), "SGD", clip_norm=0)


def test_minimize_without_parameters_is_a_clear_error(make_estimator):
    def model_fn(features, labels, mode):
        loss = (features - labels).pow(2).mean().requires_grad_()
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))

    with pytest.raises(ValueError, match="minimize found no trainable parameters"):
        make_estimator(model_fn=model_fn).train(lambda: (torch.ones(2, 1), torch.ones(2, 1)), steps=1)


def test_get_optimizer_factory_must_return_an_optimizer(make_estimator):
    def model_fn(features, labels, mode):
        est.train.get_optimizer("bad", lambda: "adam")

    with pytest.raises(TypeError, match=r"get_optimizer\('bad'\) must return a torch.optim.Optimizer"):
        make_estimator(model_fn=model_fn).train(lambda: BATCH, steps=1)


def test_bf16_mixed_precision_trains(make_estimator, train_input, eval_input):
    estimator = make_estimator(precision="bf16-mixed")
    before = estimator.evaluate(eval_input)["loss"]
    estimator.train(train_input, steps=50)
    assert estimator.evaluate(eval_input)["loss"] < before / 4


def test_float16_mixed_precision_uses_a_grad_scaler_that_is_checkpointed(make_estimator, train_input, eval_input):
    estimator = make_estimator(precision="16-mixed")
    before = estimator.evaluate(eval_input)["loss"]
    estimator.train(train_input, steps=50)
    assert estimator.evaluate(eval_input)["loss"] < before / 4
    assert any(name.startswith("scaler.") for name in estimator.get_variable_names())
    resumed = make_estimator(precision="16-mixed")
    resumed.train(train_input, steps=1)
    assert resumed.get_variable_value("global_step") == 51


def test_clear_grads_sets_every_gradient_to_none_or_calls_an_overridden_zero_grad():
    from torch_estimator.train.minimize import clear_grads

    net = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    clear_grads(optimizer)
    assert all(p.grad is None for p in net.parameters())

    class KeepsGrads(torch.optim.SGD):  # an optimizer with its own zero_grad gets it called
        def zero_grad(self, set_to_none=True):
            self.calls = getattr(self, "calls", []) + [set_to_none]

    custom = KeepsGrads(net.parameters(), lr=0.1)
    net(torch.ones(1, 3)).sum().backward()
    clear_grads(custom)
    assert custom.calls == [True] and all(p.grad is not None for p in net.parameters())
