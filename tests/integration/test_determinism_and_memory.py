"""End-to-end properties: identical losses for identical seeds, flat memory over many calls."""

from __future__ import annotations

import gc

import psutil
import torch

import torch_estimator as est


def dropout_model_fn(features, labels, mode):
    net = est.get_module("net", lambda: torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(),
                                                             torch.nn.Dropout(0.3), torch.nn.Linear(16, 1)))
    predictions = net(features["x"])
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions=predictions)
    loss = torch.nn.functional.mse_loss(predictions, labels)
    return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "Adam", learning_rate=0.01))


def losses_for(seed, model_dir, regression, recorder):
    features, labels = regression
    estimator = est.Estimator(dropout_model_fn, model_dir=model_dir,
                              config=est.RunConfig(tf_random_seed=seed, progress_bar=False))
    estimator.train(est.inputs.numpy_input_fn(features, labels, batch_size=8, num_epochs=None, shuffle=True),
                    steps=30, hooks=[recorder])
    return recorder.losses


def test_same_seed_gives_bit_identical_losses(tmp_path, regression, loss_recorder):
    first = losses_for(7, str(tmp_path / "a"), regression, loss_recorder())
    second = losses_for(7, str(tmp_path / "b"), regression, loss_recorder())
    other = losses_for(8, str(tmp_path / "c"), regression, loss_recorder())
    assert len(first) == 30 and first == second
    assert first != other


def test_evaluate_and_predict_do_not_disturb_the_training_rng(tmp_path, regression):
    features, labels = regression
    batch = lambda: (features, labels)  # noqa: E731 - same data every step in both runs

    def run(model_dir, interleave):
        estimator = est.Estimator(dropout_model_fn, model_dir=model_dir,
                                  config=est.RunConfig(tf_random_seed=3, progress_bar=False))
        for _ in range(3):
            estimator.train(batch, steps=5)
            if interleave:
                estimator.evaluate(batch)
                list(estimator.predict(lambda: features))
        return estimator.get_variable_value("net.0.weight")

    assert (run(str(tmp_path / "a"), False) == run(str(tmp_path / "b"), True)).all()


def test_memory_is_flat_over_50_train_evaluate_cycles(make_estimator, train_input, eval_input):
    estimator = make_estimator(save_checkpoints_steps=5)
    for _ in range(5):  # warm-up: allocator pools, lazily imported modules, writers
        estimator.train(train_input, steps=10)
        estimator.evaluate(eval_input)
    gc.collect()
    before = psutil.Process().memory_info().rss
    for _ in range(50):
        estimator.train(train_input, steps=10)
        estimator.evaluate(eval_input)
    gc.collect()
    growth_mb = (psutil.Process().memory_info().rss - before) / 2**20
    assert estimator.get_variable_value("global_step") == 550
    assert growth_mb < 50, f"resident memory grew by {growth_mb:.1f} MB over 50 train/evaluate cycles"
