"""``Replication``: this process's place among the training processes, and their collectives.

One object per Estimator when the world size is above one (None otherwise, so a single process
runs nothing distributed per step). It joins the process group (gloo on CPU, NCCL on GPU), makes
each ``est.get_module`` module data-parallel in place (DDP's composable ``replicate``, or FSDP2's
``fully_shard`` with ``train_distribute='fsdp'``), and offers the few collectives the Estimator
needs:

* :meth:`all_have` (every step): training stops on every rank as soon as one rank's input ends,
  instead of the others waiting forever in the next gradient all-reduce;
* :meth:`any` (every step, only with ``save_checkpoints_secs``): the checkpoint timer's decision;
* :meth:`gather` (every checkpoint): each rank's input position, written by the chief;
* :meth:`barrier` (every checkpoint): the checkpoint exists for every rank when save returns.

The modules keep their class, attributes and parameter names (``replicate`` works in place), so
the user's ``model_fn`` and the checkpoint keys do not change.

With FSDP (``train_distribute='fsdp'``) each rank keeps one shard of every parameter and of the
optimizer state, and a module's forward pass is a collective (it gathers the parameters): every
rank writes its shards of each checkpoint, evaluation keeps every rank stepping until the
longest shard ends, and prediction and export run on an unsharded copy read from the latest
checkpoint (see ``Estimator``).
"""

from __future__ import annotations

import atexit
import datetime
import logging
import math
import os
import sys
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from torch_estimator.distributed.cluster import ClusterInfo
from torch_estimator.errors import message

logger = logging.getLogger("torch_estimator")

DEBUG_ENV = "TORCH_ESTIMATOR_DISTRIBUTED_DEBUG"
"""Set to ``1`` for debug mode: each module's parameter shapes are compared across ranks when it
is created (an error naming each rank's shapes), and the process group checks every collective
(torch's ``TORCH_DISTRIBUTED_DEBUG=DETAIL``: a mismatch raises on every rank naming both
shapes, instead of a hang or a gloo size error). It costs an extra exchange per collective."""


class Replication:
    """The training processes of one job (``world_size > 1``).

    Args:
        cluster: This process's :class:`ClusterInfo` (rank, world size, TF_CONFIG cluster).
        device: The device this process trains on (selects the backend).
        strategy: ``'ddp'`` (default; None means it too) or ``'fsdp'`` (sharded parameters and
            optimizer state).
        timeout_s: How long a collective may wait for the other processes before failing.
    """

    def __init__(self, cluster: ClusterInfo, device: torch.device, strategy: str | None = None,
                 timeout_s: float = 1800.0) -> None:
        self.rank = cluster.rank
        self.world_size = cluster.world_size
        self.strategy = strategy or "ddp"
        self.device = device
        self.debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
        self._cluster = cluster
        self._timeout_s = timeout_s
        self._joined = False
        self._mesh: Any = None

    @property
    def sharded(self) -> bool:
        """True under FSDP: modules hold one shard per rank, and their forward is a collective."""
        return self.strategy == "fsdp"

    def join(self) -> None:
        """Joins the process group (waiting for the other processes) unless already in it.

        Called by the first ``train`` or ``evaluate``, not by the Estimator's constructor.
        """
        if self._joined:
            return
        cluster = self._cluster
        if not dist.is_initialized():
            if self.debug:
                dist.set_debug_level(dist.DebugLevel.DETAIL)  # before the group exists: it wraps the group
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            timeout = datetime.timedelta(seconds=self._timeout_s)
            store = _restart_store(self.world_size, timeout)
            rendezvous = {"store": store} if store is not None else {"init_method": _init_method(cluster)}
            dist.init_process_group(backend, rank=self.rank, world_size=self.world_size, timeout=timeout,
                                    **rendezvous)
            logger.info("Joined the process group: rank %d of %d (%s).", self.rank, self.world_size, backend)
            atexit.register(_leave_process_group)
        elif dist.get_world_size() != self.world_size:
            raise ValueError(message("The process group does not match the cluster",
                                     expected=f"world size {self.world_size} (from torchrun or TF_CONFIG)",
                                     fix="Initialise the process group with the cluster's world size, or let "
                                         "the Estimator initialise it", process_group_size=dist.get_world_size()))
        self._joined = True

    def wrap(self, name: str, module: nn.Module) -> None:
        """Makes ``module`` data-parallel in place: gradients are averaged over all ranks.

        Under FSDP its parameters become sharded ``DTensor``s (one shard per rank), so optimizers,
        which ``minimize`` creates after the module, hold and update only this rank's shards.
        """
        if not any(p.requires_grad for p in module.parameters()):
            return  # nothing to synchronise (and DDP refuses modules without trainable parameters)
        if self.debug:
            self.check_same_shapes(name, module)
        if self.sharded:
            from torch.distributed.fsdp import fully_shard

            # Explicitly True: FSDP otherwise keeps a root module's parameters gathered from the
            # forward to the backward pass, and ``minimize`` creates its optimizer in between:
            # it would see the gathered parameters instead of the shards.
            fully_shard(module, mesh=self.mesh, reshard_after_forward=True)
            return
        from torch.distributed._composable.replicate import replicate

        replicate(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def check_same_shapes(self, name: str, module: nn.Module) -> None:
        """Raises, on every rank, if the ranks built module ``name`` with different parameter shapes."""
        shapes = {key: tuple(value.shape) for key, value in module.named_parameters()}
        every = self.gather(shapes)
        if any(other != shapes for other in every):
            per_rank = "; ".join(f"rank {rank}: {value}" for rank, value in enumerate(every))
            raise ValueError(message(f"Module {name!r} has different parameter shapes on different ranks",
                                     expected="the same model on every rank",
                                     fix="Build the module from values that are the same on every rank "
                                         "(not from each rank's share of the data)", shapes=per_rank))

    @property
    def mesh(self) -> Any:
        """The 1-D device mesh of all ranks (FSDP's), made on first use."""
        if self._mesh is None:
            from torch.distributed.device_mesh import init_device_mesh

            self._mesh = init_device_mesh(self._collective_device.type, (self.world_size,))
        return self._mesh

    def all_have(self, have: bool) -> bool:
        """True when every rank has ``have`` (one tiny all-reduce)."""
        flag = torch.tensor([1 if have else 0], dtype=torch.int32, device=self._collective_device)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag.item())

    def any(self, value: bool) -> bool:
        """True when some rank has ``value`` (one tiny all-reduce)."""
        flag = torch.tensor([1 if value else 0], dtype=torch.int32, device=self._collective_device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over the ranks (float64)."""
        tensor = torch.tensor(values, dtype=torch.float64, device=self._collective_device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (picklable), in rank order, on every rank."""
        every: list[Any] = [None] * self.world_size
        dist.all_gather_object(every, value)
        return every

    def broadcast(self, value: Any, source: int) -> Any:
        """``value`` of rank ``source``, on every rank."""
        box = [value]
        dist.broadcast_object_list(box, src=source)
        return box[0]

    def barrier(self) -> None:
        dist.barrier()

    @property
    def _collective_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")


def _leave_process_group() -> None:
    """At a clean exit, every rank leaves the group together.

    A gloo group torn down while a peer is still connected (left alone to interpreter teardown,
    or destroyed early) can abort the process with "terminate called without an active
    exception". After an unhandled exception nothing waits for the others: that process exits
    at once, so that torchrun stops the group.
    """
    if not dist.is_initialized() or getattr(sys, "last_value", None) is not None:
        return
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=300))
        else:
            dist.barrier()
    except RuntimeError as error:  # a peer is gone: leave without it
        logger.warning("Leaving the process group without the other processes: %s", str(error)[:200])
    dist.destroy_process_group()


def _restart_store(world_size: int, timeout: datetime.timedelta) -> Any:
    """torchrun's agent store, with keys of this restart attempt only (or None outside torchrun).

    The agent keeps one store across restarts of the worker group; without a per-attempt
    prefix a restarted rank can read a dead rank's gloo address from the previous attempt and
    fail with "Connection refused".
    """
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world_size,
                          is_master=False, timeout=timeout)
    return dist.PrefixStore(f"torch_estimator/attempt_{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


def _init_method(cluster: ClusterInfo) -> str:
    """torchrun's rendezvous variables, else the chief's address from ``TF_CONFIG``."""
    if "MASTER_ADDR" in os.environ and "MASTER_PORT" in os.environ:
        return "env://"
    chief = (cluster.cluster_spec.get("chief") or cluster.cluster_spec.get("master") or ())
    if not chief:
        raise ValueError(message("Cannot find where the training processes meet",
                                 expected="torchrun's MASTER_ADDR and MASTER_PORT, or a TF_CONFIG cluster with a chief",
                                 fix="Launch with torchrun, or set TF_CONFIG", world_size=cluster.world_size))
    return f"tcp://{chief[0]}"


AGREE_EVERY_STEPS = 10
"""A seconds timer is consulted across ranks at global steps that are multiples of this."""


def agreed_timer(replication: Replication, every_secs: float | None, every_steps: int | None) -> Any:
    """A timer (checkpoints, early stopping) that triggers on every rank at the same steps.

    Steps agree by themselves. Seconds are measured by each rank's clock, so at every
    :data:`AGREE_EVERY_STEPS`-th global step the ranks agree (one tiny all-reduce), and a rank
    whose period has elapsed makes every rank trigger: a time-based trigger comes up to 9 steps
    after its period, in exchange for not paying an all-reduce on every step.
    """
    from torch_estimator.hooks.session_run_hook import SecondOrStepTimer

    class AgreedTimer(SecondOrStepTimer):
        def should_trigger_for_step(self, step: int) -> bool:
            due = super().should_trigger_for_step(step)
            if every_secs is None or self.last_triggered_step() in (None, step):
                return due
            return step % AGREE_EVERY_STEPS == 0 and replication.any(due)

        def next_trigger(self, step: int) -> tuple[float, float]:
            if every_secs is None or self.last_triggered_step() is None:
                return super().next_trigger(step)
            # Every rank must take part in each agreement: wake at the next agreeing step.
            return -(-step // AGREE_EVERY_STEPS) * AGREE_EVERY_STEPS, math.inf

    return AgreedTimer(every_secs, every_steps)
