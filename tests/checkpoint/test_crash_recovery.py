"""Damaged and half-written checkpoints: the newest usable one is restored, with a warning,
and training carries on; a process killed while saving leaves nothing that a restart trusts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.distributed.checkpoint

import torch_estimator as est
from torch_estimator.checkpoint import storage
from torch_estimator.checkpoint.index import read_index

from .conftest import steps_in_index, steps_on_disk

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SRC = os.path.join(os.path.dirname(_TESTS), "src")


def _damage(checkpoint: str, how: str) -> None:
    (data_file,) = [os.path.join(checkpoint, n) for n in os.listdir(checkpoint) if n.endswith(".distcp")]
    if how == "flipped bytes":
        data = bytearray(open(data_file, "rb").read())
        for position in range(0, len(data), 97):
            data[position] ^= 0x5A
        open(data_file, "wb").write(bytes(data))
    elif how == "truncated":
        os.truncate(data_file, os.path.getsize(data_file) - 10)
    else:
        os.remove(os.path.join(checkpoint, storage.MANIFEST))


@pytest.mark.parametrize("how", ["flipped bytes", "truncated", "missing manifest"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(make_estimator, full_batch, caplog, how):
    first = make_estimator(save_checkpoints_steps=5)
    first.train(full_batch, steps=10)
    at_five = storage.load_objects(os.path.join(first.model_dir, "model.ckpt-5"),
                                   ["model.net.weight", "model.net.bias"])
    newest = os.path.join(first.model_dir, "model.ckpt-10")
    _damage(newest, how)

    restarted = make_estimator(save_checkpoints_steps=5)
    caplog.set_level("INFO", logger="torch_estimator")
    assert restarted.evaluate(full_batch)["global_step"] == 5
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith(f"Checkpoint {newest} is not usable (")
    assert warning.endswith("); falling back to the previous one.")
    assert f"Restoring parameters from {os.path.join(first.model_dir, 'model.ckpt-5')}" in caplog.text
    # The weights in use are model.ckpt-5's: on the unit vectors the net outputs w_i + b.
    outputs = next(restarted.predict(lambda: {"x": torch.eye(3)}, yield_single_examples=False))["y"]
    np.testing.assert_allclose(outputs[:, 0], (at_five["model.net.weight"][0] + at_five["model.net.bias"]).numpy(),
                               rtol=1e-6)

    restarted.train(full_batch, max_steps=10)  # from step 5 again, writing a good model.ckpt-10
    storage.verify(newest)
    assert read_index(restarted.model_dir).latest == "model.ckpt-10"
    straight = make_estimator(model_dir=os.path.join(os.path.dirname(first.model_dir), "straight"),
                              save_checkpoints_steps=5)
    straight.train(full_batch, steps=10)
    assert torch.equal(torch.from_numpy(restarted.get_variable_value("net.weight")),
                       torch.from_numpy(straight.get_variable_value("net.weight")))


def test_evaluating_a_named_damaged_checkpoint_is_an_error(make_estimator, full_batch):
    estimator = make_estimator(save_checkpoints_steps=5)
    estimator.train(full_batch, steps=5)
    older = os.path.join(estimator.model_dir, "model.ckpt-0")
    _damage(older, "truncated")
    with pytest.raises(est.CheckpointError, match=r"model.ckpt-0: __0_0\.distcp is missing, truncated or corrupted"):
        estimator.evaluate(full_batch, checkpoint_path=older)


# The child trains with save_checkpoints_steps=5 and kills itself with SIGKILL in the middle of
# saving model.ckpt-10: after DCP wrote the data, with half a manifest written ("files"), or
# after the checkpoint was renamed into place, with half of the new index written ("index").
_CHILD = textwrap.dedent("""
    import os, signal, sys

    sys.path.insert(0, {tests!r})
    import torch_estimator as est
    from conftest import linear_model_fn, make_regression
    from torch_estimator.checkpoint import manager, storage

    model_dir, crash_in = sys.argv[1], sys.argv[2]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def half_a_manifest(directory):
        if os.path.basename(directory).startswith(".model.ckpt-10.tmp-"):
            with open(os.path.join(directory, storage.MANIFEST), "w") as f:
                f.write('{{"format": "torch_estimator/dcp-1", "files": {{"__0_')
            die()
        real_write_manifest(directory)

    def half_an_index(directory, index):
        if index.latest == "model.ckpt-10":
            with open(os.path.join(directory, "checkpoint.tmp-" + str(os.getpid())), "w") as f:
                f.write('model_checkpoint_path: "model.ckpt-10"\\nall_model_checkpoint_paths: "model.ck')
            die()
        real_write_index(directory, index)

    real_write_manifest, real_write_index = storage._write_manifest, manager.write_index
    if crash_in == "files":
        storage._write_manifest = half_a_manifest
    else:
        manager.write_index = half_an_index
    features, labels = make_regression()
    config = est.RunConfig(tf_random_seed=0, progress_bar=False, save_checkpoints_steps=5)
    estimator = est.Estimator(linear_model_fn, model_dir=model_dir, config=config, params={{}})
    estimator.train(lambda: (features, labels), max_steps=20)
    sys.exit("the child was expected to die while saving model.ckpt-10")
""")


@pytest.mark.parametrize("crash_in", ["files", "index"])
def test_killed_while_saving_resumes_from_the_last_complete_checkpoint(make_estimator, full_batch, tmp_path,
                                                                       caplog, crash_in):
    script = tmp_path / "train_and_die.py"
    script.write_text(_CHILD.format(tests=_TESTS))
    model_dir = str(tmp_path / "model")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([_SRC, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, str(script), model_dir, crash_in], env=env, timeout=120,
                           capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]

    leftovers = [name for name in os.listdir(model_dir) if ".tmp-" in name]
    assert len(leftovers) == 1
    assert leftovers[0].startswith(".model.ckpt-10.tmp-" if crash_in == "files" else "checkpoint.tmp-")
    assert read_index(model_dir).latest == "model.ckpt-5"
    assert steps_in_index(model_dir) == [0, 5]

    caplog.set_level("INFO", logger="torch_estimator")
    restarted = make_estimator(model_dir=model_dir, save_checkpoints_steps=5)
    restarted.train(full_batch, max_steps=20)
    assert f"Restoring parameters from {os.path.join(model_dir, 'model.ckpt-5')}" in caplog.text
    assert [name for name in os.listdir(model_dir) if ".tmp-" in name] == []  # removed by the next save
    assert steps_in_index(model_dir) == steps_on_disk(model_dir) == [0, 5, 10, 15, 20]
    for name in read_index(model_dir).all:
        storage.verify(os.path.join(model_dir, name))

    straight = make_estimator(model_dir=str(tmp_path / "straight"), save_checkpoints_steps=5)
    straight.train(full_batch, max_steps=20)
    for name in ("net.weight", "net.bias"):
        assert torch.equal(torch.from_numpy(restarted.get_variable_value(name)),
                           torch.from_numpy(straight.get_variable_value(name)))



def test_every_checkpoint_damaged_is_an_error_not_a_silent_fresh_start(make_estimator, full_batch):
    make_estimator(save_checkpoints_steps=5).train(full_batch, steps=10)
    model_dir = make_estimator().model_dir
    for step in steps_in_index(model_dir):
        _damage(os.path.join(model_dir, f"model.ckpt-{step}"), "truncate")
    with pytest.raises(est.CheckpointError, match="None of the checkpoints in model_dir is usable.*move them away"):
        make_estimator().train(full_batch, steps=1)


def test_a_failed_checkpoint_write_is_a_checkpoint_error(make_estimator, full_batch, monkeypatch):
    def failing_save(*args, **kwargs):
        raise torch.distributed.checkpoint.CheckpointException("save failed", {0: OSError(28, "disk full")})

    monkeypatch.setattr(torch.distributed.checkpoint, "save", failing_save)
    with pytest.raises(est.CheckpointError, match="Could not write checkpoint.*disk full.*free disk space"):
        make_estimator().train(full_batch, steps=1)
    assert not [name for name in os.listdir(make_estimator().model_dir) if ".tmp-" in name]
