"""The ``checkpoint`` index file: TensorFlow's text format, relative names, atomic replacement."""

from __future__ import annotations

import os

import pytest

from torch_estimator.checkpoint import checkpoint_step
from torch_estimator.checkpoint import index as index_module
from torch_estimator.checkpoint.index import CheckpointIndex, read_index, write_index


def test_written_file_is_tensorflow_text_format(tmp_path):
    index = CheckpointIndex(latest="model.ckpt-10", all=["model.ckpt-5", "model.ckpt-10"],
                            timestamps=[1700000000.5, 1700000600.25], last_preserved_timestamp=1699999000.0)
    write_index(str(tmp_path), index)
    assert (tmp_path / "checkpoint").read_text() == (
        'model_checkpoint_path: "model.ckpt-10"\n'
        'all_model_checkpoint_paths: "model.ckpt-5"\n'
        'all_model_checkpoint_paths: "model.ckpt-10"\n'
        "all_model_checkpoint_timestamps: 1700000000.5\n"
        "all_model_checkpoint_timestamps: 1700000600.25\n"
        "last_preserved_timestamp: 1699999000.0\n"
    )


def test_write_then_read_round_trips(tmp_path):
    # Timestamps with all their digits: repr() must survive the text round trip exactly.
    index = CheckpointIndex(latest="model.ckpt-3", all=["model.ckpt-1", "model.ckpt-2", "model.ckpt-3"],
                            timestamps=[1712345678.123456, 1712345679.987654, 1712345680.0000002],
                            last_preserved_timestamp=1712345600.1)
    write_index(str(tmp_path), index)
    assert read_index(str(tmp_path)) == index


def test_an_absent_file_is_an_empty_index(tmp_path):
    assert read_index(str(tmp_path)) == CheckpointIndex()


def test_tensorflow_file_with_absolute_paths_is_read_as_basenames(tmp_path):
    # What tf.train.CheckpointManager wrote before save_relative_paths: absolute paths from
    # another machine, a blank line, and a field this reader does not know.
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "/home/someone/run/model.ckpt-2000"\n'
        'all_model_checkpoint_paths: "/home/someone/run/model.ckpt-1000"\n'
        "\n"
        'all_model_checkpoint_paths: "/home/someone/run/model.ckpt-2000"\n'
        "all_model_checkpoint_timestamps: 1700000000.123456\n"
        "all_model_checkpoint_timestamps: 1700000600.654321\n"
        "last_preserved_timestamp: 1699999999.5\n"
        'some_future_field: "ignored"\n'
    )
    index = read_index(str(tmp_path))
    assert index.latest == "model.ckpt-2000"
    assert index.all == ["model.ckpt-1000", "model.ckpt-2000"]
    assert index.timestamps == [1700000000.123456, 1700000600.654321]
    assert index.last_preserved_timestamp == 1699999999.5


def test_a_file_without_timestamps_reads_zero_timestamps(tmp_path):
    # Old TensorFlow files have no timestamps; retention then treats the checkpoints as old.
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-2"\n'
                                         'all_model_checkpoint_paths: "model.ckpt-1"\n'
                                         'all_model_checkpoint_paths: "model.ckpt-2"\n')
    index = read_index(str(tmp_path))
    assert index.all == ["model.ckpt-1", "model.ckpt-2"]
    assert index.timestamps == [0.0, 0.0]
    assert index.last_preserved_timestamp is None


def test_replacing_the_index_leaves_no_temporary_file(tmp_path):
    for step in (1, 2, 3):
        write_index(str(tmp_path), CheckpointIndex(latest=f"model.ckpt-{step}", all=[f"model.ckpt-{step}"],
                                                   timestamps=[float(step)]))
    assert os.listdir(tmp_path) == ["checkpoint"]
    assert read_index(str(tmp_path)).latest == "model.ckpt-3"


def test_a_failed_write_keeps_the_old_index_and_removes_its_temporary(tmp_path, monkeypatch):
    old = CheckpointIndex(latest="model.ckpt-1", all=["model.ckpt-1"], timestamps=[1.0])
    write_index(str(tmp_path), old)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(index_module.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        write_index(str(tmp_path), CheckpointIndex(latest="model.ckpt-2", all=["model.ckpt-2"], timestamps=[2.0]))
    assert read_index(str(tmp_path)) == old
    assert os.listdir(tmp_path) == ["checkpoint"]


@pytest.mark.parametrize("path, step", [
    ("model.ckpt-1000", 1000),
    ("/runs/a/model.ckpt-7", 7),
    ("/runs/a/model.ckpt-7/", 7),
    ("model.ckpt-0", 0),
    ("model.ckpt", None),
    ("model.ckpt-7.tmp", None),
])
def test_checkpoint_step_reads_the_step_from_a_name(path, step):
    assert checkpoint_step(path) == step
