"""est.testing.assert_estimator_contract on the shared linear model and on the course lab."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator as est
from conftest import linear_model_fn


def test_the_linear_estimator_honours_the_contract(make_estimator, regression):
    features, labels = regression
    receiver = est.export.build_raw_serving_input_receiver_fn({"x": torch.from_numpy(features["x"][:4])})
    result = est.testing.assert_estimator_contract(make_estimator(), lambda: (features, labels), receiver,
                                                   {"x": features["x"][:5]})
    assert result["metrics"]["global_step"] == 2
    assert set(result["predictions"]) == {"y", "double"}


def test_the_course_lab_honours_the_contract(tmp_path, example):
    lab = example("custom_estimator")
    features, labels = lab.make_data(64, seed=0)
    estimator = est.Estimator(lab.simple_rnn, model_dir=str(tmp_path),
                              config=est.RunConfig(tf_random_seed=0, progress_bar=False))
    receiver = est.export.build_raw_serving_input_receiver_fn({"rawdata": torch.from_numpy(features["rawdata"][:2])})
    est.testing.assert_estimator_contract(estimator, lambda: (features, labels), receiver,
                                          {"rawdata": features["rawdata"][:7]})


def test_a_violation_names_the_failing_step(make_estimator, regression):
    features, labels = regression

    def diverging_metric_fn(features, labels, mode, params):
        spec = linear_model_fn(features, labels, mode, params)
        if mode == est.ModeKeys.EVAL:
            spec = spec._replace(eval_metric_ops={"bad": est.metrics.mean(torch.tensor(float("inf")))})
        return spec

    receiver = est.export.build_raw_serving_input_receiver_fn({"x": torch.from_numpy(features["x"][:4])})
    with pytest.raises(AssertionError, match="Estimator contract violated: evaluate returned non-finite metrics"):
        est.testing.assert_estimator_contract(make_estimator(model_fn=diverging_metric_fn, params={}), lambda: (features, labels),
                                              receiver, {"x": np.asarray(features["x"][:3])})
