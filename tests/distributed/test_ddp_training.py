"""Two torchrun processes train through the unchanged model_fn and input_fn, as one process would."""

from __future__ import annotations

import os

import pytest
import torch

from distributed_runs import phase_one_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same program alone and as two torchrun processes (global batch 8 in both)."""
    phase_one = phase_one_runs(tmp_path_factory)
    return {name: (phase_one[how]["reports"], phase_one[how]["model_dir"], phase_one[how]["log"])
            for name, how in (("one", "one"), ("two", "ddp"))}


def test_both_ranks_end_with_the_weights_of_one_process_with_the_same_global_batch(runs):
    one, _, _ = runs["one"]
    two, _, _ = runs["two"]
    assert sorted(two) == [0, 1]
    for key, value in two[0]["weights"].items():
        assert two[1]["weights"][key] == value  # all-reduced gradients: identical on every rank
        torch.testing.assert_close(torch.tensor(value), torch.tensor(one[0]["weights"][key]), rtol=1e-5, atol=1e-6)
    assert two[0]["metrics"]["global_step"] == one[0]["metrics"]["global_step"] == 8


def test_distributed_evaluation_is_exact_for_an_eval_set_not_divisible_by_the_world_size(runs):
    one, two = runs["one"][0][0], runs["two"][0]
    for rank in (0, 1):
        for count in ("53", "1"):  # 53 rows over 2 ranks; 1 row: rank 1 gets no batch at all
            alone, sharded = one["odd"][count], two[rank]["odd"][count]
            assert sharded["examples"] == alone["examples"] == int(count)  # no row lost or counted twice
            for key in ("average_loss", "mae"):
                assert sharded[key] == pytest.approx(alone[key], rel=1e-5)
        assert two[rank]["metrics"]["loss"] == pytest.approx(one["metrics"]["loss"], rel=1e-5)


def test_only_the_chief_writes_checkpoints_summaries_eval_results_and_exports(runs):
    two, model_dir, log = runs["two"]
    assert two[1]["export"] is None and two[0]["export"].startswith(str(model_dir / "export"))
    assert [p.name for p in (model_dir / "export").iterdir()] == [os.path.basename(two[0]["export"])]
    assert len(list(model_dir.glob("events.out.tfevents.*"))) == 1
    assert len(list((model_dir / "eval").glob("events.out.tfevents.*"))) == 1
    assert len((model_dir / "eval" / "eval_results.jsonl").read_text().splitlines()) == 1
    assert sorted(p.name for p in model_dir.glob("model.ckpt-*")) == ["model.ckpt-0", "model.ckpt-4", "model.ckpt-8"]
    assert "rank 1 of 2 (gloo)" in log
