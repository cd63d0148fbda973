"""InMemoryEvaluatorHook: cadence, the weights it evaluates, and that training does not notice."""

from __future__ import annotations

import os

import pytest
import torch

import torch_estimator as est
from torch_estimator.distributed.cluster import ClusterInfo
from torch_estimator.experimental import InMemoryEvaluatorHook, read_eval_metrics


def test_cadence_counts_iterations_of_each_train_call(make_estimator, train_input, eval_input):
    estimator = make_estimator()
    hook = InMemoryEvaluatorHook(estimator, eval_input, every_n_iter=4)
    estimator.train(train_input, hooks=[hook], max_steps=10)
    assert list(read_eval_metrics(estimator.eval_dir())) == [4, 8, 10]  # and at the end
    estimator.train(train_input, hooks=[hook], steps=6)  # iterations restart: 4 -> step 14
    assert list(read_eval_metrics(estimator.eval_dir())) == [4, 8, 10, 14, 16]
    estimator.train(train_input, hooks=[hook], steps=4)  # the end was just evaluated: not twice
    assert list(read_eval_metrics(estimator.eval_dir())) == [4, 8, 10, 14, 16, 20]


def test_named_evaluation_with_steps_and_hooks(make_estimator, train_input, eval_input, loss_recorder):
    estimator = make_estimator()
    eval_hook = loss_recorder()
    hook = InMemoryEvaluatorHook(estimator, eval_input, steps=2, hooks=[eval_hook], name="train_data", every_n_iter=5)
    estimator.train(train_input, hooks=[hook], max_steps=5)
    assert list(read_eval_metrics(estimator.eval_dir("train_data"))) == [5]
    assert len(eval_hook.by_step) == 1 and len(eval_hook.losses) == 1  # 2 batches at global step 5


def test_it_evaluates_the_weights_in_memory_not_a_checkpoint(make_estimator, train_input, eval_input, tmp_path):
    # No checkpoint between the start (step 0) and the end: every evaluation must still see the
    # weights of its own step. A run checkpointing every 4 steps gives the reference values.
    in_memory = make_estimator(model_dir=str(tmp_path / "memory"))
    in_memory.train(train_input, hooks=[InMemoryEvaluatorHook(in_memory, eval_input, every_n_iter=4)], max_steps=12)
    assert sorted(os.listdir(tmp_path / "memory")).count("model.ckpt-4") == 0
    reference = make_estimator(model_dir=str(tmp_path / "reference"), save_checkpoints_steps=4)
    reference.train(train_input, max_steps=12)
    results = read_eval_metrics(in_memory.eval_dir())
    for step in (4, 8, 12):
        from_checkpoint = reference.evaluate(eval_input, checkpoint_path=os.path.join(reference.model_dir,
                                                                                      f"model.ckpt-{step}"))
        assert results[step]["loss"] == pytest.approx(from_checkpoint["loss"], rel=1e-6)
    assert len({results[step]["loss"] for step in (4, 8, 12)}) == 3


def make_dropout_model_fn(training_flags: list):
    def model_fn(features, labels, mode):
        net = est.get_module("net", lambda: torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(),
                                                                  torch.nn.Dropout(0.5), torch.nn.Linear(16, 1)))
        if mode == est.ModeKeys.TRAIN:
            training_flags.append(net.training)
        predictions = net(features["x"])
        loss = torch.nn.functional.mse_loss(predictions, labels)
        return est.EstimatorSpec(mode, predictions={"y": predictions}, loss=loss,
                                 train_op=est.train.minimize(loss, "Adam", learning_rate=0.01))

    return model_fn


def test_training_continues_in_train_mode_with_the_same_random_stream(make_estimator, train_input, eval_input,
                                                                     loss_recorder, tmp_path):
    alone_flags, hooked_flags = [], []
    alone = make_estimator(make_dropout_model_fn(alone_flags), model_dir=str(tmp_path / "alone"))
    alone_losses = loss_recorder()
    alone.train(train_input, hooks=[alone_losses], max_steps=20)
    hooked = make_estimator(make_dropout_model_fn(hooked_flags), model_dir=str(tmp_path / "hooked"))
    hooked_losses = loss_recorder()
    hooked.train(train_input, hooks=[hooked_losses, InMemoryEvaluatorHook(hooked, eval_input, every_n_iter=3)],
                 max_steps=20)
    assert len(read_eval_metrics(hooked.eval_dir())) == 7  # 3, 6, ..., 18 and 20
    assert hooked_flags == [True] * 20  # back in train mode after every evaluation
    assert hooked_losses.losses == alone_losses.losses  # same dropout masks: the RNG was not touched
    # The checkpoints agree too: the evaluations did not change what was trained.
    assert torch.equal(torch.as_tensor(hooked.get_variable_value("net.0.weight")),
                       torch.as_tensor(alone.get_variable_value("net.0.weight")))


def test_argument_errors(make_estimator, eval_input):
    estimator = make_estimator()
    for every_n_iter in (0, -1, None, 2.5):
        with pytest.raises(ValueError) as info:
            InMemoryEvaluatorHook(estimator, eval_input, every_n_iter=every_n_iter)
        assert str(info.value) == (f"invalid every_n_iter. Expected a positive int. "
                                   f"Received: every_n_iter={every_n_iter!r}.")
    with pytest.raises(ValueError) as info:
        InMemoryEvaluatorHook(estimator, eval_input, steps=0)
    assert str(info.value) == "invalid steps. Expected a positive int or None. Received: steps=0."
    with pytest.raises(TypeError) as info:
        InMemoryEvaluatorHook(estimator, eval_input())
    assert str(info.value).startswith("input_fn must be callable. Received: input_fn=")
    with pytest.raises(TypeError) as info:
        InMemoryEvaluatorHook(object(), eval_input)
    assert str(info.value) == ("estimator must be an est.Estimator. Received: estimator='object'. "
                               "Pass the Estimator being trained.")


def test_single_machine_only(make_estimator, eval_input):
    estimator = make_estimator(cluster=ClusterInfo(task_type="chief", num_worker_replicas=2, world_size=2))
    with pytest.raises(ValueError) as info:
        InMemoryEvaluatorHook(estimator, eval_input)
    assert str(info.value) == (
        "InMemoryEvaluator supports only single machine (aka Local) setting. Expected one training process. "
        "Received: num_worker_replicas=2, num_ps_replicas=0. Use train_and_evaluate's evaluations in distributed "
        "runs.")
