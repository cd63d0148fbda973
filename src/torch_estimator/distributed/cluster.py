"""Cluster discovery: the one place that reads the process environment.

Two sources, as TensorFlow and PyTorch users expect:

* ``TF_CONFIG`` (a JSON string with ``cluster`` and ``task``), parsed with TensorFlow's rules so
  job specs written for ``tf.estimator`` keep working;
* torchrun's variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``), which win when both are set,
  because torchrun is what actually starts the processes.

Everything else in the package receives a :class:`ClusterInfo` (through ``RunConfig``) instead
of reading ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from torch_estimator.errors import message


class TaskType:
    """TensorFlow's task type names (``tf.estimator.RunConfig.task_type``)."""

    MASTER = "master"
    PS = "ps"
    WORKER = "worker"
    CHIEF = "chief"
    EVALUATOR = "evaluator"


@dataclasses.dataclass(frozen=True)
class ClusterInfo:
    """Read-only facts about this process's place in the job.

    Attributes:
        task_type: TensorFlow's task type (``worker`` when running alone).
        task_id: Index of this task within its type.
        is_chief: Whether this process owns checkpoints, summaries and exports.
        num_worker_replicas: Processes that train (workers + chief).
        num_ps_replicas: Parameter-server tasks (always 0 in practice: all-reduce replaces them).
        global_id_in_cluster: TensorFlow's global id: chief 0, then the other types
            alphabetically, ps last.
        cluster_spec: The ``cluster`` dict of ``TF_CONFIG`` (empty when running alone).
        master: ``grpc://host:port`` of this task in a multi-node TF_CONFIG cluster, else ``''``.
        rank: This process's rank among the training processes.
        world_size: Number of training processes.
        local_rank: Rank on this machine (selects the GPU).
        model_dir: ``TF_CONFIG["model_dir"]`` if given.
    """

    task_type: str = TaskType.WORKER
    task_id: int = 0
    is_chief: bool = True
    num_worker_replicas: int = 1
    num_ps_replicas: int = 0
    global_id_in_cluster: int = 0
    cluster_spec: Mapping[str, Any] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    master: str = ""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    model_dir: str | None = None


def read_cluster_info(environ: Mapping[str, str] | None = None) -> ClusterInfo:
    """Builds the :class:`ClusterInfo` of this process from ``TF_CONFIG`` and torchrun's variables."""
    environ = os.environ if environ is None else environ
    info = _from_tf_config(environ.get("TF_CONFIG", ""))
    if "RANK" in environ and "WORLD_SIZE" in environ:
        rank, world = int(environ["RANK"]), int(environ["WORLD_SIZE"])
        local = int(environ.get("LOCAL_RANK", "0"))
        if not environ.get("TF_CONFIG"):
            info = dataclasses.replace(
                info,
                task_type=TaskType.CHIEF if rank == 0 and world > 1 else TaskType.WORKER,
                task_id=rank if rank == 0 or world == 1 else rank - 1,
                is_chief=rank == 0,
                num_worker_replicas=world,
                global_id_in_cluster=rank,
            )
        info = dataclasses.replace(info, rank=rank, world_size=world, local_rank=local)
    return info


def _from_tf_config(raw: str) -> ClusterInfo:
    if not raw:
        return ClusterInfo()
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(
            message("TF_CONFIG is not valid JSON", expected='a JSON object like {"cluster": {...}, '
                    '"task": {"type": "worker", "index": 0}}', fix="Fix the TF_CONFIG environment variable",
                    TF_CONFIG=raw[:200])
        ) from error
    cluster = dict(config.get("cluster") or {})
    task = dict(config.get("task") or {})
    task_type = task.get("type", TaskType.WORKER)
    task_id = int(task.get("index", 0))
    model_dir = config.get("model_dir")
    if not cluster:
        if task_type != TaskType.WORKER or task_id != 0:
            raise ValueError(message(
                "A TF_CONFIG without 'cluster' describes a single local process",
                expected="task type 'worker' with index 0", fix="Add the 'cluster' dict, or remove 'task'",
                task=task))
        return ClusterInfo(model_dir=model_dir)
    _validate_cluster(cluster, task_type, task_id)
    if task_type == TaskType.EVALUATOR:
        # The evaluator is not part of the training cluster (TensorFlow's rule).
        return ClusterInfo(task_type=task_type, task_id=task_id, is_chief=False, num_worker_replicas=0,
                           model_dir=model_dir)
    workers = len(cluster.get(TaskType.WORKER, ())) + len(cluster.get(TaskType.CHIEF, ())) + len(
        cluster.get(TaskType.MASTER, ()))
    address = cluster[task_type][task_id]
    single_node = sum(len(v) for v in cluster.values()) == 1
    return ClusterInfo(
        task_type=task_type,
        task_id=task_id,
        is_chief=task_type in (TaskType.CHIEF, TaskType.MASTER),
        num_worker_replicas=workers,
        num_ps_replicas=len(cluster.get(TaskType.PS, ())),
        global_id_in_cluster=_global_id(cluster, task_type, task_id),
        cluster_spec=MappingProxyType({k: tuple(v) for k, v in cluster.items()}),
        master="" if single_node else f"grpc://{address}",
        rank=_global_id(cluster, task_type, task_id),
        world_size=workers,
        model_dir=model_dir,
    )


def _validate_cluster(cluster: dict, task_type: str, task_id: int) -> None:
    chiefs = len(cluster.get(TaskType.CHIEF, ())) + len(cluster.get(TaskType.MASTER, ()))
    if TaskType.CHIEF in cluster and TaskType.MASTER in cluster:
        raise ValueError(message("TF_CONFIG's cluster has both 'chief' and 'master'",
                                 expected="exactly one of them", fix="Rename 'master' to 'chief'",
                                 cluster=cluster))
    if chiefs != 1:
        raise ValueError(message("TF_CONFIG's cluster must have exactly one chief",
                                 expected="one address under 'chief'", fix="List one 'chief' task",
                                 cluster=cluster))
    if task_type == TaskType.EVALUATOR:
        if task_id != 0:
            raise ValueError(message("There can be only one evaluator task", expected="index 0",
                                     fix="Use one evaluator task", task_id=task_id))
        return
    if task_type not in cluster:
        raise ValueError(message("TF_CONFIG's task type is not in its cluster",
                                 expected=f"one of {sorted(cluster)}", fix="Fix task.type",
                                 task_type=task_type))
    if not 0 <= task_id < len(cluster[task_type]):
        raise ValueError(message("TF_CONFIG's task index is out of range",
                                 expected=f"0 <= index < {len(cluster[task_type])}", fix="Fix task.index",
                                 task_id=task_id))


def _global_id(cluster: dict, task_type: str, task_id: int) -> int:
    chief_type = TaskType.CHIEF if TaskType.CHIEF in cluster else TaskType.MASTER
    if task_type == chief_type:
        return 0
    order = sorted(t for t in cluster if t not in (chief_type, TaskType.PS, TaskType.EVALUATOR))
    offset = 1
    for name in order:
        if name == task_type:
            return offset + task_id
        offset += len(cluster[name])
    return offset + task_id  # ps last


def default_device(local_rank: int = 0) -> str:
    """``cuda:<local_rank>`` when a GPU is visible, else ``cpu``."""
    import torch

    return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"


def stdio_is_terminal() -> bool:
    """Whether progress can be drawn as a bar (stderr is a terminal and CI is not set)."""
    import sys

    return sys.stderr.isatty() and not os.environ.get("CI")
