"""Tests for ``Ftrl``: hand-computed steps, a numpy reference, checkpoints, convergence, errors."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch

from torch_estimator.train.ftrl import Ftrl

# Every hand-computed test below starts from the same numbers, chosen so that the square roots
# are whole: var = [1, -1, 2], lr = 0.5, learning_rate_power = -0.5, accumulators start at 0,
# gradients [3, -4, 1] then [4, 3, 0] (accumulators 0 -> [9, 16, 1] -> [25, 25, 1]).
_VAR = [1.0, -1.0, 2.0]
_GRADS = ([3.0, -4.0, 1.0], [4.0, 3.0, 0.0])


def _run(steps: int, **hyperparameters) -> tuple[torch.Tensor, Ftrl, torch.nn.Parameter]:
    var = torch.nn.Parameter(torch.tensor(_VAR, dtype=torch.float64))
    opt = Ftrl([var], lr=0.5, initial_accumulator_value=0.0, **hyperparameters)
    for grad in _GRADS[:steps]:
        var.grad = torch.tensor(grad, dtype=torch.float64)
        opt.step()
    return var.detach(), opt, var


def _assert_equal(actual: torch.Tensor, expected: list[float]) -> None:
    torch.testing.assert_close(actual, torch.tensor(expected, dtype=torch.float64))


def test_one_step_without_regularization():
    var, opt, param = _run(1)
    # new_accum = [9, 16, 1]; sqrt = [3, 4, 1]; sigma = (sqrt(new) - sqrt(0)) / lr = [6, 8, 2]
    # linear = g - sigma * var = [3 - 6, -4 + 8, 1 - 4] = [-3, 4, -3]
    # quadratic = sqrt(new) / lr = [6, 8, 2]; var = -linear / quadratic = [0.5, -0.5, 1.5]
    _assert_equal(var, [0.5, -0.5, 1.5])
    _assert_equal(opt.state[param]["accumulator"], [9.0, 16.0, 1.0])
    _assert_equal(opt.state[param]["linear"], [-3.0, 4.0, -3.0])


def test_two_steps_without_regularization():
    var, opt, param = _run(2)
    # From var = [0.5, -0.5, 1.5], linear = [-3, 4, -3], sqrt(accum) = [3, 4, 1], g = [4, 3, 0]:
    # sqrt(new) = [5, 5, 1]; sigma = ([5, 5, 1] - [3, 4, 1]) / 0.5 = [4, 2, 0]
    # linear = [-3 + 4 - 4 * 0.5, 4 + 3 - 2 * -0.5, -3 + 0 - 0] = [-1, 8, -3]
    # quadratic = [10, 10, 2]; var = [1/10, -8/10, 3/2]
    _assert_equal(var, [0.1, -0.8, 1.5])
    _assert_equal(opt.state[param]["accumulator"], [25.0, 25.0, 1.0])
    _assert_equal(opt.state[param]["linear"], [-1.0, 8.0, -3.0])


def test_l1_sets_small_weights_exactly_to_zero():
    var, _, _ = _run(1, l1_regularization_strength=3.5)
    # linear = [-3, 4, -3] as without L1; |-3| <= 3.5 -> 0; 4 > 3.5 -> (3.5 - 4) / 8 = -0.0625
    assert var.tolist() == [0.0, -0.0625, 0.0]
    var, _, _ = _run(2, l1_regularization_strength=3.5)
    # sigma = [4, 2, 0]; linear = [-3 + 4 - 4 * 0, 4 + 3 - 2 * -0.0625, -3] = [1, 7.125, -3]
    # quadratic = [10, 10, 2]; var = [0, (3.5 - 7.125) / 10, 0] = [0, -0.3625, 0]
    assert var[0].item() == 0.0 and var[2].item() == 0.0
    _assert_equal(var, [0.0, -0.3625, 0.0])


def test_l2_adds_to_the_quadratic_term():
    var, _, _ = _run(1, l2_regularization_strength=1.0)
    # quadratic = [6, 8, 2] + 2 * 1 = [8, 10, 4]; var = [3/8, -4/10, 3/4]
    _assert_equal(var, [0.375, -0.4, 0.75])
    var, _, _ = _run(2, l2_regularization_strength=1.0)
    # linear = [-3 + 4 - 4 * 0.375, 4 + 3 - 2 * -0.4, -3] = [-0.5, 7.8, -3]
    # quadratic = [10, 10, 2] + 2 = [12, 12, 4]; var = [0.5/12, -7.8/12, 3/4]
    _assert_equal(var, [0.5 / 12, -0.65, 0.75])


def test_beta_is_l2_of_beta_over_two_lr():
    # l2 = 0 + beta / (2 * lr) = 1 / (2 * 0.5) = 1: the same two steps as l2_regularization_strength=1.
    var, _, _ = _run(2, beta=1.0)
    _assert_equal(var, [0.5 / 12, -0.65, 0.75])


def test_l2_shrinkage_enters_linear_but_not_the_accumulator():
    var, opt, param = _run(1, l2_shrinkage_regularization_strength=0.25)
    # g_shrunk = g + 2 * 0.25 * var = [3 + 0.5, -4 - 0.5, 1 + 1] = [3.5, -4.5, 2]
    # accum uses the raw g: [9, 16, 1], so sigma = [6, 8, 2]
    # linear = [3.5 - 6, -4.5 + 8, 2 - 4] = [-2.5, 3.5, -2]; var = [2.5/6, -3.5/8, 2/2]
    _assert_equal(var, [2.5 / 6, -0.4375, 1.0])
    _assert_equal(opt.state[param]["accumulator"], [9.0, 16.0, 1.0])
    var, _, _ = _run(2, l2_shrinkage_regularization_strength=0.25)
    # g_shrunk = [4 + 0.5 * 5/12, 3 + 0.5 * -0.4375, 0 + 0.5 * 1] = [4 + 5/24, 2.78125, 0.5]
    # linear = [-2.5 + 4 + 5/24 - 4 * 5/12, 3.5 + 2.78125 - 2 * -0.4375, -2 + 0.5] = [1/24, 7.15625, -1.5]
    # quadratic = [10, 10, 2]; var = [-1/240, -0.715625, 0.75]
    _assert_equal(var, [-1.0 / 240, -0.715625, 0.75])


def test_fixed_learning_rate_power_zero_is_dual_averaging():
    var, _, _ = _run(2, learning_rate_power=0.0)
    # accum ** 0 = 1 always, so sigma = 0, quadratic = 1 / lr and var = -lr * sum(g)
    # = -0.5 * [3 + 4, -4 + 3, 1 + 0] = [-3.5, 0.5, -0.5]
    _assert_equal(var, [-3.5, 0.5, -0.5])


def test_zero_accumulator_and_zero_gradient_give_zero_not_nan():
    # quadratic = sqrt(0) / lr + 0 = 0 and linear = 0: TensorFlow's kernel selects 0 here.
    var = torch.nn.Parameter(torch.tensor([1.0]))
    opt = Ftrl([var], lr=0.5, initial_accumulator_value=0.0)
    var.grad = torch.zeros(1)
    opt.step()
    assert var.item() == 0.0


def _numpy_ftrl(var, accum, linear, grad, lr, lr_power, l1, l2, shrinkage, beta):
    """Keras 3's update_step, written in numpy (float64) as an independent reference."""
    l2 = l2 + beta / (2.0 * lr)
    grad_to_use = grad + 2.0 * shrinkage * var
    new_accum = accum + grad**2
    linear = linear + grad_to_use - (new_accum ** (-lr_power) - accum ** (-lr_power)) / lr * var
    quadratic = new_accum ** (-lr_power) / lr + 2.0 * l2
    var = (np.clip(linear, -l1, l1) - linear) / quadratic
    return var, new_accum, linear


_GROUPS = (
    dict(learning_rate_power=-0.5, initial_accumulator_value=0.1, l1_regularization_strength=1.0,
         l2_regularization_strength=0.01, l2_shrinkage_regularization_strength=0.0, beta=0.0),
    dict(learning_rate_power=-0.3, initial_accumulator_value=0.5, l1_regularization_strength=0.0,
         l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.02, beta=0.3),
)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_numpy_reference_over_20_steps_with_changing_lr(dtype):
    rng = np.random.default_rng(0)
    shapes = [(4, 3), (5,)]
    init = [rng.normal(size=shape) for shape in shapes]
    params = [torch.nn.Parameter(torch.tensor(value, dtype=dtype)) for value in init]
    opt = Ftrl([{"params": [p], **group} for p, group in zip(params, _GROUPS)], lr=0.1)
    ref = [[value, np.full(value.shape, group["initial_accumulator_value"]), np.zeros(value.shape)]
           for value, group in zip(init, _GROUPS)]
    for step in range(20):
        lr = float(rng.uniform(0.01, 0.5))  # as a schedule would, between steps
        for group in opt.param_groups:
            group["lr"] = lr
        for i, (param, group) in enumerate(zip(params, _GROUPS)):
            if i == 1 and step % 5 == 4:  # no gradient: skipped, state untouched
                param.grad = None
                continue
            grad = rng.normal(size=param.shape)
            param.grad = torch.tensor(grad, dtype=dtype)
            ref[i] = list(_numpy_ftrl(*ref[i], grad, lr, group["learning_rate_power"],
                                      group["l1_regularization_strength"], group["l2_regularization_strength"],
                                      group["l2_shrinkage_regularization_strength"], group["beta"]))
        opt.step()
    for param, (var, accum, linear) in zip(params, ref):
        np.testing.assert_allclose(param.detach().double().numpy(), var, rtol=0, atol=1e-6)
        np.testing.assert_allclose(opt.state[param]["accumulator"].double().numpy(), accum, rtol=1e-6)
        np.testing.assert_allclose(opt.state[param]["linear"].double().numpy(), linear, rtol=1e-6, atol=1e-6)
    assert (params[0].detach() == 0).any(), "L1 of group 0 should zero some weights"


def test_parameters_without_gradient_are_skipped():
    used, unused = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = Ftrl([used, unused], lr=0.1)
    used.grad = torch.ones(2)
    opt.step()
    assert unused.tolist() == [1.0, 1.0] and unused not in opt.state
    assert set(opt.state[used]) == {"accumulator", "linear"}


def _model_and_optimizer() -> tuple[torch.nn.Linear, Ftrl]:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    return model, Ftrl(model.parameters(), lr=0.3, l1_regularization_strength=0.001,
                       l2_shrinkage_regularization_strength=0.01)


def _train(model: torch.nn.Module, opt: Ftrl, steps: range) -> None:
    for step in steps:
        gen = torch.Generator().manual_seed(step)
        x, y = torch.randn(8, 3, generator=gen), torch.randn(8, 2, generator=gen)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def test_state_dict_round_trip_resumes_exactly():
    model, opt = _model_and_optimizer()
    _train(model, opt, range(6))

    resumed_model, resumed_opt = _model_and_optimizer()
    _train(resumed_model, resumed_opt, range(3))
    buffer = io.BytesIO()
    torch.save({"model": resumed_model.state_dict(), "opt": resumed_opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)
    assert set(saved["opt"]["state"][0]) == {"accumulator", "linear"}
    fresh_model, fresh_opt = _model_and_optimizer()
    fresh_model.load_state_dict(saved["model"])
    fresh_opt.load_state_dict(saved["opt"])
    _train(fresh_model, fresh_opt, range(3, 6))

    for expected, actual in zip(model.parameters(), fresh_model.parameters()):
        assert torch.equal(expected, actual)


def test_minimizes_least_squares():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=gen)
    y = x @ torch.tensor([1.5, -2.0, 0.5, 3.0])
    w = torch.nn.Parameter(torch.zeros(4))
    opt = Ftrl([w], lr=0.5)

    def loss_fn() -> torch.Tensor:
        return ((x @ w - y) ** 2).mean()

    initial = loss_fn().item()
    for _ in range(300):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    assert loss_fn().item() < initial * 1e-3


@pytest.mark.parametrize("name, value, expected", [
    ("lr", -0.1, "a finite number >= 0.0"),
    ("initial_accumulator_value", -1.0, "a finite number >= 0.0"),
    ("l1_regularization_strength", -0.5, "a finite number >= 0.0"),
    ("l2_regularization_strength", float("nan"), "a finite number >= 0.0"),
    ("l2_shrinkage_regularization_strength", -2.0, "a finite number >= 0.0"),
    ("beta", -1.0, "a finite number >= 0.0"),
])
def test_out_of_range_hyperparameter_error(name, value, expected):
    with pytest.raises(ValueError, match=re.escape(
            f"Ftrl {name} is out of range. Expected {expected}. Received: {name}={value!r}.")):
        Ftrl([torch.nn.Parameter(torch.zeros(1))], **{name: value})


def test_positive_learning_rate_power_error():
    with pytest.raises(ValueError, match=re.escape(
            "Ftrl learning_rate_power is out of range. Expected a finite number <= 0 (-0.5 is the usual "
            "1/sqrt decay; 0 keeps lr fixed). Received: learning_rate_power=0.5.")):
        Ftrl([torch.nn.Parameter(torch.zeros(1))], learning_rate_power=0.5)


def test_every_out_of_range_hyperparameter_is_reported_at_once():
    with pytest.raises(ValueError) as info:
        Ftrl([torch.nn.Parameter(torch.zeros(1))], lr=-1.0, beta=-1.0, learning_rate_power=1.0)
    text = str(info.value)
    assert "Received: lr=-1.0." in text and "Received: beta=-1.0." in text
    assert "Received: learning_rate_power=1.0." in text


def test_non_number_hyperparameter_error():
    with pytest.raises(TypeError, match=re.escape(
            "Ftrl hyper-parameter l1_regularization_strength must be a number. Expected an int or a float. "
            "Received: type(l1_regularization_strength)='str'.")):
        Ftrl([torch.nn.Parameter(torch.zeros(1))], l1_regularization_strength="0.1")


def test_param_group_override_is_checked():
    with pytest.raises(ValueError, match=re.escape("Received: l2_regularization_strength=-1.0.")):
        Ftrl([{"params": [torch.nn.Parameter(torch.zeros(1))], "l2_regularization_strength": -1.0}])


def test_learning_rate_set_below_zero_between_steps_error():
    var = torch.nn.Parameter(torch.ones(1))
    opt = Ftrl([var], lr=0.1)
    opt.param_groups[0]["lr"] = -0.1  # e.g. a broken schedule
    var.grad = torch.ones(1)
    with pytest.raises(ValueError, match=re.escape(
            "Ftrl lr is out of range. Expected a finite number >= 0.0. Received: lr=-0.1.")):
        opt.step()
    assert var.item() == 1.0


def test_zero_learning_rate_creates_state_without_updating():
    # torch.distributed.checkpoint's get_optimizer_state_dict initialises state with a zero-lr step.
    var = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = Ftrl([var], lr=0.0, initial_accumulator_value=0.1)
    var.grad = torch.ones(2)
    opt.step()
    assert torch.equal(var.detach(), torch.tensor([1.0, -2.0]))
    assert torch.equal(opt.state[var]["accumulator"], torch.full((2,), 0.1))


def test_ftrl_state_round_trips_through_the_estimator_checkpoint(make_estimator, regression, tmp_path):
    features, labels = regression
    train_input = lambda: (features, labels)  # noqa: E731 - the same batch every step, in every run
    params = {"optimizer": "Ftrl", "lr": 0.2}
    uninterrupted = make_estimator(params=params, model_dir=str(tmp_path / "a"))
    uninterrupted.train(train_input, steps=5)
    make_estimator(params=params, model_dir=str(tmp_path / "b")).train(train_input, steps=3)
    resumed = make_estimator(params=params, model_dir=str(tmp_path / "b"))  # restores weights + FTRL state
    resumed.train(train_input, steps=2)
    assert resumed.get_variable_value("global_step") == 5
    for name in ("net.weight", "optimizer.optimizer.state.net.weight.linear"):
        assert np.array_equal(resumed.get_variable_value(name), uninterrupted.get_variable_value(name))


def test_sparse_gradient_error():
    embedding = torch.nn.Embedding(4, 2, sparse=True)
    opt = Ftrl(embedding.parameters(), lr=0.1)
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(TypeError, match=re.escape(
            "Ftrl does not support sparse gradients. Expected a dense gradient. "
            "Received: layout=torch.sparse_coo. "
            "Use nn.Embedding(..., sparse=False) or nn.EmbeddingBag(..., sparse=False).")):
        opt.step()


def test_tensor_learning_rate_is_accepted():
    var = torch.nn.Parameter(torch.tensor([1.0, -1.0, 2.0]))
    opt = Ftrl([var], lr=torch.tensor(0.5), initial_accumulator_value=0.0)
    var.grad = torch.tensor([3.0, -4.0, 1.0])
    opt.step()
    assert var.detach().tolist() == [0.5, -0.5, 1.5]
