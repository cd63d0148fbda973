"""Debug mode: ranks that built different models fail at once, each naming every rank's shapes."""

from __future__ import annotations

from distributed_launch import environment, torchrun


def test_mismatched_parameter_shapes_raise_on_every_rank_naming_each_shape(tmp_path):
    # The program builds Linear(3, 4 + rank): its hidden width differs between the two ranks.
    done = torchrun(["mismatch", "--model-dir", str(tmp_path / "model"), "--out", str(tmp_path / "out")],
                    timeout=60, env=environment(TORCH_ESTIMATOR_DISTRIBUTED_DEBUG="1"))
    assert done.returncode != 0
    expected = ("ValueError: Module 'net' has different parameter shapes on different ranks. Expected the same "
                "model on every rank. Received: shapes=\"rank 0: {'0.weight': (4, 3), '0.bias': (4,), "
                "'2.weight': (1, 4), '2.bias': (1,)}; rank 1: {'0.weight': (5, 3), '0.bias': (5,), "
                "'2.weight': (1, 5), '2.bias': (1,)}\". Build the module from values that are the same on every "
                "rank (not from each rank's share of the data).")
    for rank in (0, 1):
        assert f"[rank{rank}]: {expected}" in done.stdout, done.stdout[-3000:]
