"""Replication's rendezvous errors, the agreed checkpoint timer and per-rank input positions."""

from __future__ import annotations

import datetime
import json
import logging

import pytest
import torch
import torch.distributed as dist

from distributed_launch import free_port
from torch_estimator.distributed.cluster import ClusterInfo
from torch_estimator.distributed.replication import Replication, agreed_timer
from torch_estimator.state import TrainState

CPU = torch.device("cpu")


def test_fsdp_shards_and_ddp_is_the_default():
    assert Replication(ClusterInfo(world_size=2, rank=0), CPU, strategy="fsdp").sharded
    assert Replication(ClusterInfo(world_size=2, rank=0), CPU).strategy == "ddp"
    assert not Replication(ClusterInfo(world_size=2, rank=0), CPU, strategy="ddp").sharded


def test_without_torchrun_or_tf_config_the_processes_cannot_meet(monkeypatch):
    for name in ("MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError) as info:
        Replication(ClusterInfo(world_size=2, rank=1), CPU).join()
    assert str(info.value) == (
        "Cannot find where the training processes meet. Expected torchrun's MASTER_ADDR and MASTER_PORT, or a "
        "TF_CONFIG cluster with a chief. Received: world_size=2. Launch with torchrun, or set TF_CONFIG.")


def test_a_process_group_of_another_size_is_refused():
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1,
                            timeout=datetime.timedelta(seconds=30))
    try:
        with pytest.raises(ValueError) as info:
            Replication(ClusterInfo(world_size=2, rank=0), CPU).join()
    finally:
        dist.destroy_process_group()
    assert str(info.value) == (
        "The process group does not match the cluster. Expected world size 2 (from torchrun or TF_CONFIG). "
        "Received: process_group_size=1. Initialise the process group with the cluster's world size, or let the "
        "Estimator initialise it.")


class CountingReplication:
    """Stands in for the other ranks: records each agreement asked for, another rank always 'due'."""

    def __init__(self) -> None:
        self.calls = 0

    def any(self, value: bool) -> bool:
        self.calls += 1
        return True


def test_a_step_timer_needs_no_exchange_and_a_seconds_timer_follows_the_other_ranks():
    replication = CountingReplication()
    steps = agreed_timer(replication, None, 3)
    steps.update_last_triggered_step(0)
    assert [steps.should_trigger_for_step(step) for step in (1, 2, 3)] == [False, False, True]
    assert replication.calls == 0
    seconds = agreed_timer(replication, 3600.0, None)
    assert seconds.should_trigger_for_step(0)  # the first save: every rank decides alike
    seconds.update_last_triggered_step(0)
    assert not seconds.should_trigger_for_step(0) and replication.calls == 0
    assert not seconds.should_trigger_for_step(1) and replication.calls == 0  # not a step where ranks agree
    assert seconds.should_trigger_for_step(10)  # this rank's hour has not passed, another rank's has
    assert replication.calls == 1


class Rank:
    def __init__(self, rank: int, world_size: int) -> None:
        self.rank, self.world_size = rank, world_size


def test_each_rank_resumes_its_own_input_position_and_none_at_another_world_size(tmp_path, caplog):
    saved = {"ranks": [{"rows": 10}, {"rows": 20}]}
    assert TrainState(replication=Rank(1, 2))._own_position(json.loads(json.dumps(saved))) == {"rows": 20}
    with caplog.at_level(logging.INFO, logger="torch_estimator"):
        assert TrainState(replication=Rank(0, 3))._own_position(saved) is None
    assert "written by 2 processes, this run has 3" in caplog.text
    assert TrainState()._own_position(saved) is None  # one process: a sharded position does not apply
    assert TrainState()._own_position({"rows": 5}) == {"rows": 5}
