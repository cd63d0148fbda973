"""Tests for ``make_optimizer``: the name table, TF-formula numerics, the three forms, every error."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from torch_estimator.train.ftrl import Ftrl
from torch_estimator.train.optimizers import DEFAULT_LEARNING_RATES, OPTIMIZER_NAMES, make_optimizer

_EXPECTED_KINDS = ("Expected an optimizer name (one of ('Adagrad', 'Adam', 'Ftrl', 'RMSProp', 'SGD')), "
                   "a torch.optim.Optimizer subclass, or a callable params -> torch.optim.Optimizer.")


def _params() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.zeros(3))]


def test_names_and_default_learning_rates():
    assert OPTIMIZER_NAMES == ("Adagrad", "Adam", "Ftrl", "RMSProp", "SGD")
    assert dict(DEFAULT_LEARNING_RATES) == {"Adagrad": 0.001, "Adam": 0.001, "Ftrl": 0.001, "RMSProp": 0.001,
                                            "SGD": 0.01}
    with pytest.raises(TypeError):
        DEFAULT_LEARNING_RATES["SGD"] = 1.0  # type: ignore[index]


# TF 2 / Keras defaults, in torch's spelling.
_TABLE = {
    "Adagrad": (torch.optim.Adagrad, {"initial_accumulator_value": 0.1, "eps": 1e-7, "lr_decay": 0}),
    "Adam": (torch.optim.Adam, {"betas": (0.9, 0.999), "eps": 1e-7, "amsgrad": False, "weight_decay": 0}),
    "Ftrl": (Ftrl, {"learning_rate_power": -0.5, "initial_accumulator_value": 0.1,
                    "l1_regularization_strength": 0.0, "l2_regularization_strength": 0.0,
                    "l2_shrinkage_regularization_strength": 0.0, "beta": 0.0}),
    "RMSProp": (torch.optim.RMSprop, {"alpha": 0.9, "eps": 1e-7, "momentum": 0.0, "centered": False}),
    "SGD": (torch.optim.SGD, {"momentum": 0.0, "nesterov": False, "dampening": 0}),
}


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_each_name_builds_its_class_with_tf_defaults(name):
    cls, hyperparameters = _TABLE[name]
    opt = make_optimizer(name, _params())
    assert type(opt) is cls
    assert opt.param_groups[0]["lr"] == DEFAULT_LEARNING_RATES[name]
    for key, value in hyperparameters.items():
        assert opt.defaults[key] == value, key


@pytest.mark.parametrize("spelling, name", [("adam", "Adam"), ("RMSprop", "RMSProp"), ("rmsprop", "RMSProp"),
                                            ("sgd", "SGD"), ("FTRL", "Ftrl"), ("ADAGRAD", "Adagrad")])
def test_names_match_case_insensitively(spelling, name):
    assert type(make_optimizer(spelling, _params())) is _TABLE[name][0]


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_learning_rate_overrides_the_default(name):
    opt = make_optimizer(name, _params(), learning_rate=0.25)
    assert opt.param_groups[0]["lr"] == 0.25


def test_class_form_with_and_without_learning_rate():
    assert make_optimizer(torch.optim.AdamW, _params()).param_groups[0]["lr"] == 0.001  # AdamW's own default
    opt = make_optimizer(torch.optim.AdamW, _params(), learning_rate=0.3)
    assert type(opt) is torch.optim.AdamW and opt.param_groups[0]["lr"] == 0.3
    assert type(make_optimizer(Ftrl, _params(), 0.2)) is Ftrl


def test_callable_form_with_and_without_learning_rate():
    params = _params()
    groups = [{"params": params[:1], "lr": 0.1}, {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.2}]
    opt = make_optimizer(lambda p: torch.optim.SGD(p, lr=0.7, momentum=0.9), groups)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.2] and opt.defaults["momentum"] == 0.9
    opt = make_optimizer(lambda p: torch.optim.SGD(p, lr=0.7, momentum=0.9), groups, learning_rate=0.05)
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.05]


def test_callable_form_keeps_a_tensor_learning_rate_a_tensor():
    opt = make_optimizer(lambda p: torch.optim.Adam(p, lr=torch.tensor(0.01)), _params(), learning_rate=0.5)
    lr = opt.param_groups[0]["lr"]
    assert isinstance(lr, torch.Tensor) and lr.item() == 0.5


def test_params_may_be_a_generator():
    model = torch.nn.Linear(2, 1)
    opt = make_optimizer("Adam", model.parameters())
    assert len(opt.param_groups[0]["params"]) == 2


# Numpy versions of the TensorFlow formulas, float64. `eps_inside` selects Keras >= 2.11 / Keras 3
# (sqrt(acc + eps)); otherwise TF 2's legacy optimizers, which TF Estimator used ((sqrt(acc) + eps)).
def _tf_adagrad(var, grads, lr, eps_inside, initial=0.1, eps=1e-7):
    acc = np.full_like(var, initial)
    for g in grads:
        acc = acc + g * g
        var = var - lr * g / (np.sqrt(acc + eps) if eps_inside else np.sqrt(acc) + eps)
    return var


def _tf_rmsprop(var, grads, lr, eps_inside, rho=0.9, eps=1e-7):
    ms = np.zeros_like(var)
    for g in grads:
        ms = rho * ms + (1 - rho) * g * g
        var = var - lr * g / (np.sqrt(ms + eps) if eps_inside else np.sqrt(ms) + eps)
    return var


def _tf_adam(var, grads, lr, eps=1e-7, beta_1=0.9, beta_2=0.999, eps_scale=lambda t: 1.0):
    m, v = np.zeros_like(var), np.zeros_like(var)
    for t, g in enumerate(grads, start=1):
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        var = var - m * alpha / (np.sqrt(v) + eps * eps_scale(t))
    return var


def _torch_steps(name, var, grads, lr):
    param = torch.nn.Parameter(torch.tensor(var, dtype=torch.float64))
    opt = make_optimizer(name, [param], learning_rate=lr)
    for g in grads:
        param.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    return param.detach().numpy()


_VAR = np.array([1.0, -0.5, 2.0])
_GRADS = [np.array([0.5, -1.0, 2.0]), np.array([-0.7, 0.3, 1.1]), np.array([1.5, -0.2, -0.9])]


@pytest.mark.parametrize("name, reference", [("Adagrad", _tf_adagrad), ("RMSProp", _tf_rmsprop)])
def test_matches_tf_estimator_legacy_formula_exactly(name, reference):
    for steps in (1, 3):
        expected = reference(_VAR, _GRADS[:steps], 0.1, eps_inside=False)
        np.testing.assert_allclose(_torch_steps(name, _VAR, _GRADS[:steps], 0.1), expected, rtol=1e-12)


@pytest.mark.parametrize("name, reference", [("Adagrad", _tf_adagrad), ("RMSProp", _tf_rmsprop)])
def test_matches_keras3_formula_for_ordinary_gradients(name, reference):
    # One step: Adagrad: acc = 0.1 + g^2, var -= lr * g / sqrt(acc + 1e-7);
    # RMSProp: ms = 0.1 * g^2, var -= lr * g / sqrt(ms + 1e-7).
    expected = reference(_VAR, _GRADS[:1], 0.1, eps_inside=True)
    np.testing.assert_allclose(_torch_steps(name, _VAR, _GRADS[:1], 0.1), expected, rtol=0, atol=1e-6)
    expected = reference(_VAR, _GRADS, 0.1, eps_inside=True)
    np.testing.assert_allclose(_torch_steps(name, _VAR, _GRADS, 0.1), expected, rtol=0, atol=1e-6)


def test_rmsprop_tiny_gradient_difference_from_keras3_is_as_documented():
    # |g| = 1e-4 at step 1: ms = 1e-9; Keras 3 divides by sqrt(1.01e-7), torch by sqrt(1e-9) + 1e-7.
    var, grads = np.zeros(1), [np.array([1e-4])]
    torch_step = -_torch_steps("RMSProp", var, grads, 0.1)[0]
    keras_step = -_tf_rmsprop(var, grads, 0.1, eps_inside=True)[0]
    assert 9.9 < torch_step / keras_step < 10.1
    np.testing.assert_allclose(-_tf_rmsprop(var, grads, 0.1, eps_inside=False)[0], torch_step, rtol=1e-12)


def test_adam_matches_tf_formula():
    for steps in (1, 3):
        expected = _tf_adam(_VAR, _GRADS[:steps], 0.1)
        np.testing.assert_allclose(_torch_steps("Adam", _VAR, _GRADS[:steps], 0.1), expected, rtol=0, atol=1e-6)


def test_adam_equals_tf_formula_with_epsilon_times_sqrt_of_bias_correction():
    # Tiny gradients, where epsilon matters: torch is exactly TF with eps * sqrt(1 - beta_2^t).
    grads = [g * 1e-6 for g in _GRADS]
    actual = _torch_steps("Adam", _VAR, grads, 0.1)
    scaled = _tf_adam(_VAR, grads, 0.1, eps_scale=lambda t: np.sqrt(1 - 0.999**t))
    np.testing.assert_allclose(actual, scaled, rtol=1e-12)
    assert not np.allclose(actual, _tf_adam(_VAR, grads, 0.1), rtol=1e-6, atol=0)


def test_sgd_matches_tf_formula():
    expected = _VAR - 0.1 * (_GRADS[0] + _GRADS[1])
    np.testing.assert_allclose(_torch_steps("SGD", _VAR, _GRADS[:2], 0.1), expected, rtol=1e-12)


def test_optimizer_instance_error():
    instance = torch.optim.Adam(_params(), lr=0.05)
    with pytest.raises(TypeError, match=re.escape(
            "optimizer is an optimizer instance, but the Estimator must create the optimizer itself, once, over "
            f"its own parameters, so that it can checkpoint and restore it. {_EXPECTED_KINDS} "
            "Received: type(optimizer)='Adam'. Pass a callable instead, e.g. "
            "optimizer=lambda params: torch.optim.Adam(params, lr=0.05).")):
        make_optimizer(instance, _params())


def test_optimizer_instance_error_names_a_class_outside_torch_optim():
    with pytest.raises(TypeError, match=re.escape(
            "Received: type(optimizer)='Ftrl'. Pass a callable instead, e.g. "
            "optimizer=lambda params: torch_estimator.train.ftrl.Ftrl(params, lr=0.2).")):
        make_optimizer(Ftrl(_params(), lr=0.2), _params())


def test_unknown_name_error_lists_the_names():
    with pytest.raises(ValueError, match=re.escape(
            "Unknown optimizer name. Expected one of ('Adagrad', 'Adam', 'Ftrl', 'RMSProp', 'SGD') "
            "(case-insensitive). Received: optimizer='Lion'. For another optimizer pass its class, e.g. "
            "optimizer=torch.optim.AdamW, or a callable params -> torch.optim.Optimizer.")):
        make_optimizer("Lion", _params())


def test_unknown_name_error_suggests_a_close_name():
    with pytest.raises(ValueError, match=re.escape("Received: optimizer='Adagard'. Did you mean 'Adagrad'?")):
        make_optimizer("Adagard", _params())


def test_callable_returning_a_non_optimizer_error():
    with pytest.raises(TypeError, match=re.escape(
            "The optimizer callable did not return a torch.optim.Optimizer. Expected a callable params -> "
            "torch.optim.Optimizer. Received: returned=<class 'torch.optim.adam.Adam'>. Return the optimizer "
            "built over the params argument, e.g. lambda params: torch.optim.Adam(params, lr=0.01).")):
        make_optimizer(lambda params: torch.optim.Adam, _params())


def test_callable_returning_something_with_a_long_repr_error_names_its_type():
    with pytest.raises(TypeError, match=re.escape(
            "The optimizer callable did not return a torch.optim.Optimizer. Expected a callable params -> "
            "torch.optim.Optimizer. Received: type(returned)='list'.")):
        make_optimizer(lambda params: list(range(100)), _params())


def test_unsupported_kind_error():
    with pytest.raises(TypeError, match=re.escape(
            f"optimizer is of an unsupported kind. {_EXPECTED_KINDS} Received: type(optimizer)='NoneType'.")):
        make_optimizer(None, _params())  # type: ignore[arg-type]


@pytest.mark.parametrize("learning_rate", [0, -0.1, 0.0, float("nan"), float("inf"), True, "0.1",
                                           torch.tensor(0.1)])
def test_invalid_learning_rate_error(learning_rate):
    with pytest.raises(ValueError, match=re.escape(
            f"learning_rate must be a positive number. Expected a finite float > 0. Received: "
            f"learning_rate={learning_rate!r}. "
            "Pass e.g. learning_rate=0.01, or None for the optimizer's default.")):
        make_optimizer("SGD", _params(), learning_rate=learning_rate)


def test_numpy_and_int_learning_rates_become_floats():
    assert make_optimizer("SGD", _params(), learning_rate=np.float32(0.5)).param_groups[0]["lr"] == 0.5
    lr = make_optimizer("SGD", _params(), learning_rate=1).param_groups[0]["lr"]
    assert lr == 1.0 and type(lr) is float
