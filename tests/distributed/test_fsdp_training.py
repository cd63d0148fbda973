"""train_distribute='fsdp': two torchrun processes with sharded parameters and optimizer state
train, evaluate, export and predict through the unchanged model_fn and input_fn."""

from __future__ import annotations

import os

import pytest
import torch

from distributed_runs import phase_one_runs
from torch_estimator.checkpoint import storage


@pytest.fixture(scope="module")
def phase_one(tmp_path_factory):
    return phase_one_runs(tmp_path_factory)


def test_fsdp_ranks_end_with_the_weights_of_one_process_and_of_ddp_with_the_same_global_batch(phase_one):
    one, ddp, fsdp = (phase_one[how]["reports"] for how in ("one", "ddp", "fsdp"))
    assert sorted(fsdp) == [0, 1]
    for key, value in fsdp[0]["weights"].items():  # the gathered full weights
        assert fsdp[1]["weights"][key] == value
        torch.testing.assert_close(torch.tensor(value), torch.tensor(one[0]["weights"][key]), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(torch.tensor(value), torch.tensor(ddp[0]["weights"][key]), rtol=1e-5, atol=1e-6)
    assert fsdp[0]["metrics"]["global_step"] == 8


def test_fsdp_checkpoints_hold_one_shard_of_each_parameter_and_adam_moment_per_rank(phase_one):
    path = str(phase_one["fsdp"]["model_dir"] / "model.ckpt-8")
    storage.verify(path)  # the chief's manifest covers every rank's file
    assert sorted(os.listdir(path)) == [".metadata", "__0_0.distcp", "__1_0.distcp", "manifest.json"]
    metadata = storage.keys(path)
    for key in ("model.net.0.weight", "optimizer.optimizer.state.net.0.weight.exp_avg"):
        chunks = metadata[key].chunks
        assert [tuple(chunk.offsets) for chunk in chunks] == [(0, 0), (2, 0)]  # rows 0-1 by rank 0, 2-3 by rank 1
    assert sorted(p.name for p in phase_one["fsdp"]["model_dir"].glob("model.ckpt-*")) == [
        "model.ckpt-0", "model.ckpt-4", "model.ckpt-8"]


def test_fsdp_evaluation_is_exact_when_the_ranks_have_different_numbers_of_batches(phase_one):
    one, fsdp = phase_one["one"]["reports"][0], phase_one["fsdp"]["reports"]
    for rank in (0, 1):
        for count in ("53", "1"):  # 53 rows in batches of 4: 7 and 7 batches; 1 row: rank 1 has none
            alone, sharded = one["odd"][count], fsdp[rank]["odd"][count]
            assert sharded["examples"] == alone["examples"] == int(count)
            for key in ("average_loss", "mae"):
                assert sharded[key] == pytest.approx(alone[key], rel=1e-5)
        assert fsdp[rank]["metrics"]["loss"] == pytest.approx(one["metrics"]["loss"], rel=1e-5)
        # model.ckpt-4 restored into the sharded modules (and their optimizer), then model.ckpt-8 again
        assert fsdp[rank]["at4"]["loss"] == pytest.approx(one["at4"]["loss"], rel=1e-5)
        assert fsdp[rank]["at4"]["loss"] != pytest.approx(one["metrics"]["loss"], rel=1e-3)


def test_fsdp_predicts_on_one_rank_alone_and_the_chief_exports(phase_one):
    one, fsdp = phase_one["one"]["reports"][0], phase_one["fsdp"]["reports"]
    assert fsdp[0]["predictions"] is None  # the program predicts on the last rank only
    torch.testing.assert_close(torch.tensor(fsdp[1]["predictions"]), torch.tensor(one["predictions"]),
                               rtol=1e-5, atol=1e-6)
    model_dir = phase_one["fsdp"]["model_dir"]
    assert fsdp[1]["export"] is None and fsdp[0]["export"].startswith(str(model_dir / "export"))
    assert os.path.exists(os.path.join(fsdp[0]["export"], "signature.json"))


def test_fsdp_predict_and_export_without_a_checkpoint_say_that_they_need_one(tmp_path):
    import torch_estimator as est
    from distributed_program import model_fn
    from torch_estimator.distributed.cluster import ClusterInfo

    config = est.RunConfig(train_distribute="fsdp", cluster=ClusterInfo(world_size=2, rank=0), progress_bar=False)
    estimator = est.Estimator(model_fn, str(tmp_path), config, params={})
    expected = (
        "Predict and export with train_distribute='fsdp' read the model from a checkpoint, and model_dir has none. "
        f"Expected a checkpoint in {tmp_path}. Received: model_dir={str(tmp_path)!r}. Train with checkpoints "
        "enabled (save_checkpoints_steps or save_checkpoints_secs) first.")
    with pytest.raises(ValueError) as info:
        estimator.predict(lambda: {"x": torch.ones(2, 3)})
    assert str(info.value) == expected
    with pytest.raises(ValueError) as info:
        estimator.export_saved_model(str(tmp_path / "export"), lambda: None)
    assert str(info.value) == expected
