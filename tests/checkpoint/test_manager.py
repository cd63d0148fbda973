"""Which checkpoints training writes and keeps: first and last step, every N steps or seconds,
``keep_checkpoint_max``, ``keep_checkpoint_every_n_hours``, checkpoints turned off."""

from __future__ import annotations

import os
import time

import pytest
import torch

from torch_estimator.checkpoint import CheckpointManager, manager, storage
from torch_estimator.checkpoint.index import read_index
from conftest import linear_model_fn
from torch_estimator.hooks import session_run_hook

from .conftest import steps_in_index, steps_on_disk


class _FakeTime:
    """Stands in for a module's ``time``: ``time()`` and ``monotonic()`` read ``now``."""

    def __init__(self, now=0.0):
        self.now = now

    def time(self):
        return self.now

    def monotonic(self):
        return self.now

    def __getattr__(self, name):  # anything else (perf_counter, sleep...) is the real one
        return getattr(time, name)


def test_saves_at_the_first_step_every_n_steps_and_at_the_end(make_estimator, train_input):
    estimator = make_estimator(params={"optimizer": "Adam"}, save_checkpoints_steps=3)
    estimator.train(train_input, steps=7)
    model_dir = estimator.model_dir
    assert steps_on_disk(model_dir) == [0, 3, 6, 7]
    index = read_index(model_dir)
    assert index.latest == "model.ckpt-7"
    assert index.all == ["model.ckpt-0", "model.ckpt-3", "model.ckpt-6", "model.ckpt-7"]
    assert len(index.timestamps) == 4 and index.timestamps == sorted(index.timestamps)
    assert estimator.latest_checkpoint() == os.path.join(model_dir, "model.ckpt-7")
    # Nothing else: no temporaries (besides the TensorBoard event file).
    assert sorted(n for n in os.listdir(model_dir) if not n.startswith("events.out.tfevents")) == [
        "checkpoint", "model.ckpt-0", "model.ckpt-3", "model.ckpt-6", "model.ckpt-7"]


def test_the_first_checkpoint_holds_the_initial_weights_and_no_optimizer_state(make_estimator, train_input):
    estimator = make_estimator(params={"optimizer": "Adam"}, save_checkpoints_steps=3)
    estimator.train(train_input, steps=3)
    first = os.path.join(estimator.model_dir, "model.ckpt-0")
    assert set(storage.keys(first)) == {"model.net.weight", "model.net.bias", "global_step", "rng.torch"}
    torch.manual_seed(0)  # tf_random_seed=0: the model_fn's Linear(3, 1) is the first use of the RNG
    initial = torch.nn.Linear(3, 1)
    values = storage.load_objects(first, ["model.net.weight", "model.net.bias", "global_step"])
    assert torch.equal(values["model.net.weight"], initial.weight.detach())
    assert torch.equal(values["model.net.bias"], initial.bias.detach())
    assert values["global_step"] == 0
    later = storage.keys(os.path.join(estimator.model_dir, "model.ckpt-3"))
    assert "optimizer.optimizer.state.net.weight.exp_avg" in later


def test_keep_checkpoint_max_deletes_the_oldest_from_disk_and_index(make_estimator, train_input):
    estimator = make_estimator(save_checkpoints_steps=1, keep_checkpoint_max=2)
    estimator.train(train_input, steps=5)
    assert steps_on_disk(estimator.model_dir) == [4, 5]
    assert steps_in_index(estimator.model_dir) == [4, 5]
    assert len(read_index(estimator.model_dir).timestamps) == 2


@pytest.mark.parametrize("keep", [None, 0])
def test_keep_checkpoint_max_none_or_zero_keeps_all(make_estimator, train_input, keep):
    estimator = make_estimator(save_checkpoints_steps=1, keep_checkpoint_max=keep)
    estimator.train(train_input, steps=6)
    assert steps_on_disk(estimator.model_dir) == [0, 1, 2, 3, 4, 5, 6]
    assert steps_in_index(estimator.model_dir) == [0, 1, 2, 3, 4, 5, 6]


def test_keep_checkpoint_every_n_hours_preserves_old_checkpoints(make_estimator, train_input, monkeypatch):
    # The clock moves half an hour per save (as it writes the files), so saves 0..6 happen
    # at 0, 0.5, ..., 3 hours. With keep_checkpoint_max=2, a checkpoint pushed out of the index
    # stays on disk when it is at least 1 hour newer than the last preserved one (TF's rule);
    # the first save (t=0) is the starting point: ckpt-2 (t=1h) and ckpt-4 (t=2h) are preserved.
    clock = _FakeTime(-1800.0)
    real_save = storage.save_state

    def save_half_an_hour_later(state_dict, path):
        clock.now += 1800.0
        real_save(state_dict, path)

    monkeypatch.setattr(manager, "time", clock)
    monkeypatch.setattr(storage, "save_state", save_half_an_hour_later)
    estimator = make_estimator(save_checkpoints_steps=1, keep_checkpoint_max=2, keep_checkpoint_every_n_hours=1)
    estimator.train(train_input, steps=6)
    assert steps_on_disk(estimator.model_dir) == [2, 4, 5, 6]
    assert steps_in_index(estimator.model_dir) == [5, 6]  # preserved ones are no longer tracked (as TF)
    index = read_index(estimator.model_dir)
    assert index.timestamps == [5 * 1800.0, 6 * 1800.0]
    assert index.last_preserved_timestamp == 4 * 1800.0


def test_checkpoints_can_be_turned_off(make_estimator, train_input, eval_input):
    estimator = make_estimator(save_checkpoints_steps=None, save_checkpoints_secs=None)
    estimator.train(train_input, steps=3)
    assert steps_on_disk(estimator.model_dir) == []
    assert not os.path.exists(os.path.join(estimator.model_dir, "checkpoint"))
    assert estimator.latest_checkpoint() is None
    assert estimator.evaluate(eval_input)["global_step"] == 3  # the resident weights are still used


def test_save_checkpoints_secs(make_estimator, full_batch, monkeypatch):
    # The saver's timer reads time.monotonic; the model_fn moves that clock 4 s per step, so with
    # save_checkpoints_secs=10 the timer (armed at 4 s, after the first model_fn call) fires at
    # step 4 (16 s >= 14 s) and step 7 (28 s >= 26 s); the first and last steps are saved anyway.
    clock = _FakeTime()
    monkeypatch.setattr(session_run_hook, "time", clock)

    def model_fn(features, labels, mode, params):
        clock.now += 4.0
        return linear_model_fn(features, labels, mode, params)

    estimator = make_estimator(model_fn, params={}, save_checkpoints_secs=10)
    estimator.train(full_batch, steps=8)
    assert steps_on_disk(estimator.model_dir) == [0, 4, 7, 8]


def test_a_later_train_call_continues_the_numbering(make_estimator, train_input):
    estimator = make_estimator(save_checkpoints_steps=4)
    estimator.train(train_input, steps=5)
    estimator.train(train_input, steps=5)
    # The second call does not re-save step 5: it is already the latest checkpoint.
    assert steps_on_disk(estimator.model_dir) == [0, 4, 5, 9, 10]
    assert steps_in_index(estimator.model_dir) == [0, 4, 5, 9, 10]


def test_resaving_a_step_replaces_it_and_moves_it_to_the_end(tmp_path):
    checkpoints = CheckpointManager(str(tmp_path), keep_checkpoint_max=None)
    for step in (1, 2):
        checkpoints.save({"global_step": step, "w": torch.full((2,), float(step))}, step)
    checkpoints.save({"global_step": 1, "w": torch.full((2,), 7.0)}, 1)
    assert steps_in_index(str(tmp_path)) == [2, 1]
    assert checkpoints.latest() == os.path.join(str(tmp_path), "model.ckpt-1")
    assert torch.equal(storage.load_objects(checkpoints.latest(), ["w"])["w"], torch.full((2,), 7.0))
    assert steps_on_disk(str(tmp_path)) == [1, 2]


def test_only_the_chief_writes(tmp_path):
    checkpoints = CheckpointManager(str(tmp_path / "model"), is_chief=False)
    assert checkpoints.save({"global_step": 1}, 1) is None
    assert not os.path.exists(tmp_path / "model")
    assert checkpoints.latest() is None and checkpoints.latest_valid() is None
