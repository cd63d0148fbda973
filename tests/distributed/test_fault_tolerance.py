"""torchrun --max-restarts: a SIGKILLed rank restarts the group, which resumes from the last good
checkpoint and each rank's saved input position, and ends at exactly max_steps with every row
trained once."""

from __future__ import annotations

import json
import os

import pytest

import torch_estimator as est
from distributed_launch import summary, torchrun
from distributed_program import model_fn, write_csv
from torch_estimator.checkpoint import storage

ROWS, BATCH, MAX_STEPS = 200, 5, 20  # 100 rows per rank: exactly one epoch in 20 steps


def _train_with_a_kill(tmp_path, *kill_args: str):
    out, model_dir = tmp_path / "out", tmp_path / "model"
    out.mkdir()
    write_csv(str(out / "data0.csv"), ROWS // 2)  # two files: one per rank (est.data shards by file)
    write_csv(str(out / "data1.csv"), ROWS, first=ROWS // 2)
    done = torchrun(["csv", "--model-dir", str(model_dir), "--out", str(out), "--batch", str(BATCH),
                     "--max-steps", str(MAX_STEPS), "--save-steps", "3", *kill_args], max_restarts=1, timeout=120)
    assert done.returncode == 0, summary(done.stdout)
    assert "exitcode: -9" in done.stdout  # a rank really was SIGKILLed, and the agent restarted the group
    return out, model_dir


def _rows_in_the_final_history(out) -> list[int]:
    """Rows of the steps that survived: first attempt up to the resumed checkpoint, then the restart."""
    rows = []
    for rank in (0, 1):
        lines = [line.split() for line in (out / f"seen{rank}.txt").read_text().splitlines()]
        resumed_at = min(int(line[1]) for line in lines if line[0] == "1")
        assert resumed_at > 0  # the restart resumed from a checkpoint, not from scratch
        rows += [int(r) for line in lines if line[0] == "1" or int(line[1]) < resumed_at for r in line[2:]]
    return rows


def _check_run(out, model_dir) -> None:
    assert sorted(_rows_in_the_final_history(out)) == list(range(ROWS))  # none lost, none twice
    estimator = est.Estimator(model_fn, str(model_dir), params={"hidden": 4})  # one process: another world size
    assert int(estimator.get_variable_value("global_step")) == MAX_STEPS
    for path in estimator._checkpoints.all_checkpoints():
        storage.verify(path)  # the chain: every indexed checkpoint is complete
    assert not [p for p in os.listdir(model_dir) if ".tmp-" in p]
    ranks = [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["metrics"]["global_step"] == MAX_STEPS


def test_a_worker_killed_mid_training_is_restarted_and_the_run_ends_at_max_steps(tmp_path):
    out, model_dir = _train_with_a_kill(tmp_path, "--kill-step", "7", "--kill-rank", "1")
    _check_run(out, model_dir)


@pytest.mark.slow
def test_the_chief_killed_while_writing_a_checkpoint_resumes_from_the_previous_one(tmp_path):
    out, model_dir = _train_with_a_kill(tmp_path, "--kill-step", "6", "--kill-rank", "0", "--kill-in-save")
    _check_run(out, model_dir)
    lines = (out / "seen0.txt").read_text().splitlines()
    assert min(int(line.split()[1]) for line in lines if line.startswith("1 ")) == 3  # model.ckpt-6 never existed


@pytest.mark.slow
def test_under_fsdp_the_chief_killed_after_every_rank_wrote_its_shards_resumes_from_the_previous_one(tmp_path):
    out, model_dir = _train_with_a_kill(tmp_path, "--kill-step", "6", "--kill-rank", "0", "--kill-in-save",
                                        "--distribute", "fsdp")
    _check_run(out, model_dir)
    lines = (out / "seen0.txt").read_text().splitlines()
    assert min(int(line.split()[1]) for line in lines if line.startswith("1 ")) == 3  # model.ckpt-6 never existed
