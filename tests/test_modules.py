"""est.get_module keeps modules across model_fn calls and refuses modules made without it."""

from __future__ import annotations

import pytest
import torch

import torch_estimator as est


def test_get_module_returns_the_same_module_every_call(make_estimator):
    seen = []

    def model_fn(features, labels, mode):
        net = est.get_module("net", lambda: torch.nn.Linear(1, 1))
        seen.append(net)
        loss = torch.nn.functional.mse_loss(net(features), labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))

    make_estimator(model_fn=model_fn, params=None).train(lambda: (torch.ones(4, 1), torch.ones(4, 1)), steps=3)
    assert len(seen) == 3 and seen[0] is seen[1] is seen[2]


def test_factory_runs_once_and_names_are_checked(make_estimator):
    calls = []

    def model_fn(features, labels, mode):
        est.get_module("a", lambda: calls.append(1) or torch.nn.Linear(1, 1))
        est.get_module("a", lambda: calls.append(1) or torch.nn.Linear(1, 1))
        est.get_module("bad.name", lambda: torch.nn.Linear(1, 1))

    with pytest.raises(ValueError, match=r"needs a non-empty name without '\.'.*name='bad.name'"):
        make_estimator(model_fn=model_fn, params=None).evaluate(lambda: (torch.ones(1, 1), torch.ones(1, 1)))
    assert calls == [1]


def test_factory_must_return_a_module(make_estimator):
    def model_fn(features, labels, mode):
        est.get_module("w", lambda: torch.zeros(3))

    with pytest.raises(TypeError, match=r"get_module\('w'\) must return a torch.nn.Module.*returned='Tensor'"):
        make_estimator(model_fn=model_fn, params=None).evaluate(lambda: (torch.ones(1, 1), torch.ones(1, 1)))


def test_module_built_without_get_module_is_an_error(make_estimator):
    def model_fn(features, labels, mode):
        net = torch.nn.Linear(1, 1)  # a new module every call: never trained
        loss = torch.nn.functional.mse_loss(net(features), labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))

    with pytest.raises(RuntimeError, match=r"created a module or parameter without est.get_module.*Linear"):
        make_estimator(model_fn=model_fn, params=None).train(lambda: (torch.ones(2, 1), torch.ones(2, 1)), steps=1)


def test_bare_parameter_in_model_fn_is_an_error(make_estimator):
    def model_fn(features, labels, mode):
        net = est.get_module("net", lambda: torch.nn.Linear(1, 1))
        scale = torch.nn.Parameter(torch.ones(1))  # not owned by any module
        loss = torch.nn.functional.mse_loss(net(features) * scale, labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))

    with pytest.raises(RuntimeError, match=r"depends on a trainable tensor that no est.get_module module owns"):
        make_estimator(model_fn=model_fn, params=None).train(lambda: (torch.ones(2, 1), torch.ones(2, 1)), steps=1)


def test_lazily_built_parameters_inside_a_registered_module_are_fine(make_estimator):
    def model_fn(features, labels, mode):
        net = est.get_module("net", lambda: torch.nn.LazyLinear(1))
        loss = torch.nn.functional.mse_loss(net(features), labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))

    estimator = make_estimator(model_fn=model_fn, params=None)
    estimator.train(lambda: (torch.ones(2, 4), torch.ones(2, 1)), steps=2)
    assert estimator.get_variable_value("net.weight").shape == (1, 4)


def test_helpers_outside_model_fn_say_where_to_call_them():
    with pytest.raises(RuntimeError, match="est.get_module can only be called inside a model_fn"):
        est.get_module("net", lambda: torch.nn.Linear(1, 1))
    with pytest.raises(RuntimeError, match="est.train.get_global_step can only be called inside a model_fn"):
        est.train.get_global_step()


def test_checkpoint_keys_are_module_name_dot_parameter(make_estimator):
    def model_fn(features, labels, mode):
        encoder = est.get_module("encoder", lambda: torch.nn.Linear(2, 3))
        head = est.get_module("head", lambda: torch.nn.Linear(3, 1))
        loss = torch.nn.functional.mse_loss(head(encoder(features)), labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))

    estimator = make_estimator(model_fn=model_fn, params=None)
    estimator.train(lambda: (torch.ones(2, 2), torch.ones(2, 1)), steps=1)
    names = set(estimator.get_variable_names())
    assert {"encoder.weight", "encoder.bias", "head.weight", "head.bias"} <= names
