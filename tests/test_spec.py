"""EstimatorSpec validates itself per mode, with readable messages."""

from __future__ import annotations

import pytest
import torch

import torch_estimator as est

M = est.ModeKeys


def noop():
    pass


def test_mode_keys_have_tensorflows_values():
    assert (M.TRAIN, M.EVAL, M.PREDICT) == ("train", "eval", "infer")


def test_train_needs_loss_and_train_op():
    with pytest.raises(ValueError, match=r"Missing loss in the EstimatorSpec returned for mode 'train'"):
        est.EstimatorSpec(M.TRAIN, train_op=noop)
    with pytest.raises(ValueError, match=r"Missing train_op .*est.train.minimize"):
        est.EstimatorSpec(M.TRAIN, loss=torch.tensor(1.0))


def test_eval_needs_loss_and_predict_needs_predictions():
    with pytest.raises(ValueError, match="Missing loss in the EstimatorSpec returned for mode 'eval'"):
        est.EstimatorSpec(M.EVAL)
    with pytest.raises(ValueError, match="Missing predictions in the EstimatorSpec returned for mode 'infer'"):
        est.EstimatorSpec(M.PREDICT)


def test_loss_must_be_scalar_and_shape_one_is_reshaped():
    spec = est.EstimatorSpec(M.EVAL, loss=torch.tensor([2.0]))
    assert spec.loss.shape == ()
    with pytest.raises(ValueError, match=r"Loss must be scalar.*Received: shape=\(3,\).*loss.mean\(\)"):
        est.EstimatorSpec(M.EVAL, loss=torch.ones(3))
    with pytest.raises(TypeError, match="EstimatorSpec.loss must be a torch.Tensor.*Received: loss='float'"):
        est.EstimatorSpec(M.EVAL, loss=1.0)


def test_unknown_mode_and_bad_types():
    with pytest.raises(ValueError, match="EstimatorSpec got an unknown mode.*Received: mode='predict'"):
        est.EstimatorSpec("predict", predictions=torch.ones(1))
    with pytest.raises(TypeError, match="train_op must be callable"):
        est.EstimatorSpec(M.TRAIN, loss=torch.tensor(1.0), train_op="minimize")
    with pytest.raises(TypeError, match="predictions must be a tensor or a dict"):
        est.EstimatorSpec(M.PREDICT, predictions=[1, 2])
    with pytest.raises(TypeError, match="export_outputs must be a dict"):
        est.EstimatorSpec(M.PREDICT, predictions=torch.ones(1), export_outputs=[1])
    with pytest.raises(TypeError, match="must hold SessionRunHooks"):
        est.EstimatorSpec(M.PREDICT, predictions=torch.ones(1), prediction_hooks=[object()])


def test_reserved_and_invalid_metric_names():
    loss = torch.tensor(1.0)
    for name in ("loss", "global_step"):
        with pytest.raises(ValueError, match=f"Metric name '{name}' is reserved"):
            est.EstimatorSpec(M.EVAL, loss=loss, eval_metric_ops={name: est.metrics.mean(loss)})
    with pytest.raises(TypeError, match=r"eval_metric_ops\['acc'\] is not a streaming metric"):
        est.EstimatorSpec(M.EVAL, loss=loss, eval_metric_ops={"acc": 0.5})


def test_defaults_and_replace_keeps_the_mode():
    spec = est.EstimatorSpec(M.EVAL, loss=torch.tensor(1.0))
    assert spec.predictions == {} and spec.eval_metric_ops == {} and spec.training_hooks == ()
    replaced = spec._replace(loss=torch.tensor(2.0))
    assert float(replaced.loss) == 2.0 and isinstance(replaced, est.EstimatorSpec)
    with pytest.raises(ValueError, match="cannot change the mode"):
        spec._replace(mode=M.TRAIN)
