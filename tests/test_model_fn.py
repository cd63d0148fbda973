"""model_fn and input_fn arguments are matched by name, with TensorFlow's errors."""

from __future__ import annotations

import functools

import pytest
import torch

import torch_estimator as est
from torch_estimator.model_fn import ModelFnCaller, call_input_fn


def test_model_fn_must_take_features(tmp_path):
    with pytest.raises(ValueError, match="must include features argument"):
        est.Estimator(lambda labels, mode: None, model_dir=str(tmp_path))


def test_unexpected_model_fn_args_are_refused(tmp_path):
    def model_fn(features, labels, mode, hparams):
        pass

    with pytest.raises(ValueError, match=r"has following not expected args: \['hparams'\]"):
        est.Estimator(model_fn, model_dir=str(tmp_path))


def test_params_without_params_argument(tmp_path, caplog):
    with pytest.raises(ValueError, match="does not include params argument, but params are passed"):
        est.Estimator(lambda features, labels, mode: None, model_dir=str(tmp_path), params={"a": 1})
    est.Estimator(lambda features, labels, mode, params: None, model_dir=str(tmp_path))
    assert "includes params argument, but params are not passed" in caplog.text


def test_partial_and_bound_methods_are_understood():
    class Model:
        def model_fn(self, features, mode):
            return est.EstimatorSpec(mode, predictions=features)

    caller = ModelFnCaller(Model().model_fn, None, None)
    assert caller.args == ("features", "mode")
    caller = ModelFnCaller(functools.partial(lambda features, labels, mode, params: None, params={}), None, None)
    assert "params" in caller.args


def test_model_fn_must_return_an_estimator_spec():
    caller = ModelFnCaller(lambda features, labels, mode: {"loss": 1}, None, None)
    with pytest.raises(ValueError, match="model_fn should return an EstimatorSpec.*Received: returned='dict'"):
        caller(torch.ones(1), None, est.ModeKeys.EVAL)


def test_labels_given_to_model_fn_without_labels_argument():
    caller = ModelFnCaller(lambda features, mode: est.EstimatorSpec(mode, predictions=features), None, None)
    with pytest.raises(ValueError, match="model_fn does not take labels, but input_fn returns labels"):
        caller(torch.ones(1), torch.ones(1), est.ModeKeys.EVAL)
    assert caller(torch.ones(1), None, est.ModeKeys.PREDICT).mode == est.ModeKeys.PREDICT


def test_labels_without_labels_argument_through_the_estimator(make_estimator):
    def model_fn(features, mode):
        net = est.get_module("net", lambda: torch.nn.Linear(1, 1))
        loss = net(features).mean()
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))

    estimator = make_estimator(model_fn=model_fn, params=None)
    with pytest.raises(ValueError, match="model_fn does not take labels"):
        estimator.train(lambda: (torch.ones(2, 1), torch.ones(2, 1)), steps=1)


def test_spec_for_the_wrong_mode():
    caller = ModelFnCaller(lambda features, labels: est.EstimatorSpec("infer", predictions=features), None, None)
    with pytest.raises(ValueError, match="returned an EstimatorSpec for another mode"):
        caller(torch.ones(1), None, est.ModeKeys.EVAL)


def test_input_fn_arguments_are_matched_by_name():
    seen = {}

    def input_fn(mode, params, config, input_context):
        seen.update(mode=mode, params=params, config=config, context=input_context)
        return torch.ones(1)

    call_input_fn(input_fn, "eval", {"p": 1}, "cfg", est.InputContext())
    assert seen == {"mode": "eval", "params": {"p": 1}, "config": "cfg", "context": est.InputContext()}
    assert call_input_fn(lambda: 3, "train", None, None) == 3


def test_input_fn_must_be_callable(make_estimator):
    with pytest.raises(TypeError, match="input_fn must be callable.*Pass the function itself"):
        make_estimator().train(({"x": torch.ones(1, 3)}, torch.ones(1, 1)), steps=1)


def test_input_fn_returning_garbage(make_estimator):
    with pytest.raises(TypeError, match="neither a batch nor an iterable of batches.*returned='int'"):
        make_estimator().train(lambda: 3, steps=1)
    with pytest.raises(TypeError, match="yielded an element that is not a batch.*element='str'"):
        make_estimator().train(lambda: ["ab"], steps=1)


def test_bound_model_fn_passes_what_it_declares_and_check_spec_names_the_problem():
    from torch_estimator.model_fn import check_spec

    seen = {}

    def model_fn(features, labels, mode, params):
        seen.update(features=features, labels=labels, mode=mode, params=params)
        return est.EstimatorSpec(mode, predictions=features)

    call = ModelFnCaller(model_fn, {"units": 3}, None).bound(est.ModeKeys.PREDICT)
    spec = check_spec(call(features=torch.ones(1), labels=None), est.ModeKeys.PREDICT)
    assert seen["mode"] == "infer" and seen["params"] == {"units": 3} and spec.mode == "infer"
    with pytest.raises(ValueError, match=r"model_fn should return an EstimatorSpec.*Received: returned='dict'"):
        check_spec({"loss": 1}, est.ModeKeys.TRAIN)
    with pytest.raises(ValueError, match=r"another mode.*Received: returned_mode='infer'"):
        check_spec(spec, est.ModeKeys.TRAIN)
    no_labels = ModelFnCaller(lambda features, mode: est.EstimatorSpec(mode, predictions=features), None, None)
    with pytest.raises(ValueError, match="model_fn does not take labels, but input_fn returns labels"):
        no_labels.bound(est.ModeKeys.PREDICT)(features=torch.ones(1), labels=torch.ones(1))
