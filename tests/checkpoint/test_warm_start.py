"""``warm_start_from``: initialising a new run's modules from another run's checkpoint."""

from __future__ import annotations

import os
import re

import pytest
import torch

import torch_estimator as est
from conftest import linear_model_fn
from torch_estimator.checkpoint import storage


def _two_module_model_fn(seen):
    """An encoder and a head (with BatchNorm buffers); the modules are kept in ``seen``."""

    def model_fn(features, labels, mode):
        encoder = est.get_module("encoder", lambda: torch.nn.Sequential(torch.nn.Linear(3, 4),
                                                                        torch.nn.BatchNorm1d(4)))
        head = est.get_module("head", lambda: torch.nn.Linear(4, 1))
        seen.update(encoder=encoder, head=head)
        loss = torch.nn.functional.mse_loss(head(encoder(features["x"])), labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD", learning_rate=0.1))

    return model_fn


@pytest.fixture
def trained(make_estimator, full_batch, tmp_path):
    """A finished two-module run in ``tmp_path/previous``: its latest checkpoint's values by key."""
    previous = make_estimator(_two_module_model_fn({}), model_dir=str(tmp_path / "previous"),
                              save_checkpoints_steps=5, tf_random_seed=1)
    previous.train(full_batch, steps=5)
    path = previous.latest_checkpoint()
    values = storage.load_objects(path, [k for k in storage.keys(path) if k.startswith("model.")])
    return previous.model_dir, {key[len("model."):]: value for key, value in values.items()}


def _warm(tmp_path, full_batch, warm_start_from, name="new"):
    """Builds a run warm-started from ``warm_start_from``, creates its modules (evaluate), returns them."""
    seen = {}
    estimator = est.Estimator(_two_module_model_fn(seen), model_dir=str(tmp_path / name),
                              config=est.RunConfig(tf_random_seed=0, progress_bar=False),
                              warm_start_from=warm_start_from)
    estimator.evaluate(full_batch, steps=1)
    return {f"{module}.{key}": value for module in ("encoder", "head")
            for key, value in seen[module].state_dict().items()}


def _fresh(tmp_path, full_batch):
    return _warm(tmp_path, full_batch, None, name="fresh")


def test_a_model_dir_path_copies_every_trainable_weight(full_batch, tmp_path, trained):
    previous_dir, previous = trained
    config = est.RunConfig(tf_random_seed=0, progress_bar=False, save_checkpoints_steps=5)
    estimator = est.Estimator(_two_module_model_fn({}), model_dir=str(tmp_path / "new"), config=config,
                              warm_start_from=previous_dir)
    estimator.train(full_batch, steps=1)
    # model.ckpt-0 is written before the first update: it holds exactly the warm-started weights.
    first = storage.load_objects(os.path.join(estimator.model_dir, "model.ckpt-0"),
                                 ["model.encoder.0.weight", "model.encoder.0.bias", "model.encoder.1.weight",
                                  "model.encoder.1.bias", "model.head.weight", "model.head.bias", "global_step"])
    assert first.pop("global_step") == 0
    for key, value in first.items():
        assert torch.equal(value, previous[key[len("model."):]]), key


def test_a_regex_selects_one_module(full_batch, tmp_path, trained):
    previous_dir, previous = trained
    fresh = _fresh(tmp_path, full_batch)
    values = _warm(tmp_path, full_batch,
                   est.WarmStartSettings(previous_dir, vars_to_warm_start="encoder.*"))
    for key in ("encoder.0.weight", "encoder.0.bias", "encoder.1.weight", "encoder.1.bias"):
        assert torch.equal(values[key], previous[key]), key
    for key in ("head.weight", "head.bias"):
        assert torch.equal(values[key], fresh[key]) and not torch.equal(values[key], previous[key]), key


def test_a_single_regex_skips_buffers_and_a_list_includes_them(full_batch, tmp_path, trained):
    previous_dir, previous = trained
    assert not torch.equal(previous["encoder.1.running_mean"], torch.zeros(4))  # training moved the statistics
    trainable_only = _warm(tmp_path, full_batch, est.WarmStartSettings(previous_dir, ".*"), "a")
    assert torch.equal(trainable_only["encoder.0.weight"], previous["encoder.0.weight"])
    assert torch.equal(trainable_only["encoder.1.running_mean"], torch.zeros(4))
    with_buffers = _warm(tmp_path, full_batch,
                         est.WarmStartSettings(previous_dir, ["encoder.*", "head.weight"]), "b")
    for key in ("encoder.1.running_mean", "encoder.1.running_var", "encoder.1.num_batches_tracked",
                "encoder.0.weight", "head.weight"):
        assert torch.equal(with_buffers[key], previous[key]), key
    assert not torch.equal(with_buffers["head.bias"], previous["head.bias"])


def test_a_specific_checkpoint_directory(full_batch, tmp_path, trained):
    previous_dir, previous = trained
    first = os.path.join(previous_dir, "model.ckpt-0")
    values = _warm(tmp_path, full_batch, est.WarmStartSettings(first))
    at_zero = storage.load_objects(first, ["model.head.weight"])["model.head.weight"]
    assert torch.equal(values["head.weight"], at_zero) and not torch.equal(at_zero, previous["head.weight"])


def test_var_name_to_prev_var_name_renames(make_estimator, full_batch, tmp_path):
    old = make_estimator(linear_model_fn, model_dir=str(tmp_path / "old"), tf_random_seed=3)
    old.train(full_batch, steps=3)
    seen = {}

    def renamed_model_fn(features, labels, mode):
        seen["body"] = body = est.get_module("body", lambda: torch.nn.Linear(3, 1))
        loss = torch.nn.functional.mse_loss(body(features["x"]), labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))

    settings = est.WarmStartSettings(old.model_dir, var_name_to_prev_var_name={"body.weight": "net.weight",
                                                                               "body.bias": "net.bias"})
    est.Estimator(renamed_model_fn, model_dir=str(tmp_path / "new"), config=est.RunConfig(progress_bar=False),
                  warm_start_from=settings).evaluate(full_batch, steps=1)
    assert torch.equal(seen["body"].weight.detach(), torch.from_numpy(old.get_variable_value("net.weight")))
    assert torch.equal(seen["body"].bias.detach(), torch.from_numpy(old.get_variable_value("net.bias")))


def test_not_applied_when_the_model_dir_has_a_checkpoint(make_estimator, full_batch, tmp_path, trained):
    previous_dir, previous = trained
    own = make_estimator(_two_module_model_fn({}), model_dir=str(tmp_path / "own"), save_checkpoints_steps=5)
    own.train(full_batch, steps=2)
    values = _warm(tmp_path, full_batch, previous_dir, name="own")
    assert torch.equal(values["head.weight"], torch.from_numpy(own.get_variable_value("head.weight")))
    assert not torch.equal(values["head.weight"], previous["head.weight"])


def test_a_path_without_a_checkpoint_is_an_error(full_batch, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    estimator = est.Estimator(linear_model_fn, model_dir=str(tmp_path / "new"), params={},
                              config=est.RunConfig(progress_bar=False), warm_start_from=str(empty))
    for _ in range(2):  # the module that could not be warm-started is not kept with random weights
        with pytest.raises(ValueError, match=r"warm_start_from names no checkpoint\. Expected a model_dir with a "
                                             r"'checkpoint' index, or a model.ckpt-<step> directory\. Received: "
                                             r"path=.*empty'\. Point it at a trained model_dir"):
            estimator.train(full_batch, steps=1)


def test_selecting_weights_the_checkpoint_lacks_is_an_error(make_estimator, full_batch, tmp_path):
    old = make_estimator(linear_model_fn, model_dir=str(tmp_path / "old"))
    old.train(full_batch, steps=1)
    with pytest.raises(ValueError, match=r"warm_start_from selects weights that the checkpoint does not have\. "
                                         r"Expected keys present in .*model.ckpt-1\. Received: missing=\["
                                         r"'encoder.0.weight', 'encoder.0.bias'.*Narrow vars_to_warm_start"):
        _warm(tmp_path, full_batch, est.WarmStartSettings(old.model_dir, "encoder.*"))


@pytest.mark.parametrize("pattern", ["encoder.(", ["head.*", "[unclosed"], [3]])
def test_an_invalid_regex_is_an_error(tmp_path, pattern):
    bad = pattern if isinstance(pattern, str) else pattern[-1]
    with pytest.raises(ValueError, match=r"vars_to_warm_start holds an invalid regular expression\. "
                                         rf"Received: pattern={re.escape(repr(bad))}\. Fix the pattern"):
        est.WarmStartSettings(str(tmp_path), vars_to_warm_start=pattern)
