"""Cluster discovery from TF_CONFIG and torchrun variables, with TensorFlow's rules."""

from __future__ import annotations

import json

import pytest

from torch_estimator.distributed import InputContext, read_cluster_info

CLUSTER = {"chief": ["host0:2222"], "worker": ["host1:2222", "host2:2222"], "ps": ["host3:2222"],
           "evaluator": ["host4:2222"]}


def tf_config(task_type, index, cluster=CLUSTER, **extra):
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}, **extra})}


def test_no_environment_is_a_single_local_chief():
    info = read_cluster_info({})
    assert (info.task_type, info.is_chief, info.world_size, info.rank) == ("worker", True, 1, 0)


def test_chief_and_workers_follow_tensorflow():
    chief = read_cluster_info(tf_config("chief", 0))
    assert chief.is_chief and chief.global_id_in_cluster == 0 and chief.master == "grpc://host0:2222"
    assert (chief.num_worker_replicas, chief.num_ps_replicas) == (3, 1)
    worker = read_cluster_info(tf_config("worker", 1))
    assert not worker.is_chief and worker.global_id_in_cluster == 2 and worker.rank == 2
    assert worker.cluster_spec["worker"] == ("host1:2222", "host2:2222")


def test_evaluator_is_outside_the_training_cluster():
    info = read_cluster_info(tf_config("evaluator", 0))
    assert (info.task_type, info.is_chief, info.num_worker_replicas, info.master) == ("evaluator", False, 0, "")
    assert dict(info.cluster_spec) == {}


def test_model_dir_from_tf_config():
    assert read_cluster_info(tf_config("chief", 0, model_dir="/tmp/m")).model_dir == "/tmp/m"


def test_torchrun_variables_give_rank_and_world_size():
    info = read_cluster_info({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert (info.rank, info.world_size, info.local_rank, info.is_chief) == (1, 2, 1, False)
    assert read_cluster_info({"RANK": "0", "WORLD_SIZE": "2"}).task_type == "chief"


@pytest.mark.parametrize("environ, fragment", [
    ({"TF_CONFIG": "{not json"}, "TF_CONFIG is not valid JSON"),
    ({"TF_CONFIG": json.dumps({"task": {"type": "ps", "index": 0}})}, "without 'cluster' describes a single"),
    (tf_config("worker", 5), "task index is out of range"),
    (tf_config("master", 0), "task type is not in its cluster"),
    (tf_config("evaluator", 1), "only one evaluator"),
    (tf_config("chief", 0, cluster={"worker": ["a:1"]}), "exactly one chief"),
    (tf_config("chief", 0, cluster={"chief": ["a:1"], "master": ["b:1"]}), "both 'chief' and 'master'"),
])
def test_invalid_tf_config_is_a_clear_error(environ, fragment):
    with pytest.raises(ValueError, match=fragment):
        read_cluster_info(environ)


def test_input_context_per_replica_batch_size():
    context = InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    assert context.get_per_replica_batch_size(64) == 32
    with pytest.raises(ValueError, match="global batch size must be divisible.*global_batch_size=63"):
        context.get_per_replica_batch_size(63)
