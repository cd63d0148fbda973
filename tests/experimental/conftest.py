"""A model whose evaluation metrics follow the global step, so stopping decisions are exact."""

from __future__ import annotations

import os

import torch

import torch_estimator as est


def plateau_model_fn(features, labels, mode):
    """The linear model, plus eval metrics that follow the global step: ``score = min(step, 50)``.

    ``score`` rises until step 50 then plateaus; ``neg_score`` is its negative (falls, then
    plateaus), so early stopping decisions are known exactly.
    """
    net = est.get_module("net", lambda: torch.nn.Linear(3, 1))
    predictions = net(features["x"])
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions={"y": predictions})
    loss = torch.nn.functional.mse_loss(predictions, labels)
    score = torch.tensor(float(min(est.train.get_global_step(), 50)))
    return est.EstimatorSpec(mode, predictions={"y": predictions}, loss=loss,
                             train_op=est.train.minimize(loss, "SGD", learning_rate=0.05),
                             eval_metric_ops={"score": est.metrics.mean(score),
                                              "neg_score": est.metrics.mean(-score)})


def checkpoint_steps(model_dir) -> list[int]:
    return sorted(int(name.rsplit("-", 1)[1]) for name in os.listdir(model_dir) if name.startswith("model.ckpt-"))
