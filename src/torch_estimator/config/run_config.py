"""``RunConfig``: how an Estimator runs (TensorFlow's fields and defaults, plus PyTorch's knobs)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from torch_estimator.distributed.cluster import ClusterInfo, read_cluster_info
from torch_estimator.errors import message

_DEFAULT = object()  # "not given": save_checkpoints_* defaults depend on which one the user set
_PRECISIONS = ("32", "bf16-mixed", "16-mixed")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How an Estimator runs: checkpoints, summaries, logging, device, precision, cluster.

    Field names and defaults are TensorFlow's (``tf.estimator.RunConfig``), so
    ``RunConfig(model_dir=..., save_checkpoints_steps=...)`` migrates unchanged.

    Args:
        model_dir: Where checkpoints, summaries and exports go. Must agree with the
            Estimator's ``model_dir`` argument when both are given.
        tf_random_seed: Seeds torch's RNG at the start of each run (model creation, dropout,
            shuffling through torch's global RNG). The same seed gives bit-identical losses on CPU.
        save_summary_steps: Write TensorBoard summaries every this many steps; 0 disables.
        save_checkpoints_steps: Save a checkpoint every this many steps.
        save_checkpoints_secs: Save a checkpoint every this many seconds. If neither this nor
            ``save_checkpoints_steps`` is given, 600 s. Giving both is an error; setting both to
            ``None`` disables checkpoints entirely (as TensorFlow); evaluate and predict then use
            the weights in memory.
        keep_checkpoint_max: Checkpoints kept in ``model_dir``; ``None`` or 0 keeps all.
        keep_checkpoint_every_n_hours: Additionally keep one checkpoint per this many hours.
        log_step_count_steps: Log loss and steps/sec every this many steps (and write the
            ``global_step/sec`` summary). Must be positive.
        train_distribute: Distribution for training: ``None`` or ``'ddp'``, data-parallel
            (gradients all-reduced) when the world size is above one; ``'fsdp'``, sharded
            parameters and optimizer state (FSDP2; see ``docs/distributed.md``).
        eval_distribute: Distribution for evaluation, as ``train_distribute`` (evaluation in a
            multi-process run always splits the input by ``input_context`` and reduces exactly).
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``... ``None`` picks the GPU of this process's
            local rank when one is visible, else the CPU.
        precision: ``'32'`` (default), ``'bf16-mixed'`` (autocast to bfloat16) or ``'16-mixed'``
            (autocast to float16 with gradient scaling; GPU).
        compile: ``torch.compile`` every module made by ``est.get_module`` (off by default: on
            CPU it costs tens of seconds of compilation for little speed-up on small models).
        progress_bar: ``True`` shows a tqdm bar, ``False`` logs lines, ``None`` (default) picks a
            bar on a terminal and log lines otherwise. Silence everything with
            ``est.logging.set_verbosity(est.logging.WARN)``.

    Read-only cluster properties (``task_type``, ``task_id``, ``is_chief``,
    ``num_worker_replicas``, ``num_ps_replicas``, ``global_id_in_cluster``, ``cluster_spec``,
    ``master``) come from ``TF_CONFIG`` or torchrun's variables, read when the config is made.

    Raises:
        ValueError: listing every invalid field at once.

    Example:
        >>> config = RunConfig(save_checkpoints_steps=100)
        >>> config.save_checkpoints_secs is None
        True
        >>> config.replace(save_checkpoints_secs=60).save_checkpoints_steps is None
        True
    """

    model_dir: str | None = None
    tf_random_seed: int | None = None
    save_summary_steps: int = 100
    save_checkpoints_steps: int | None = _DEFAULT  # type: ignore[assignment]
    save_checkpoints_secs: float | None = _DEFAULT  # type: ignore[assignment]
    keep_checkpoint_max: int | None = 5
    keep_checkpoint_every_n_hours: float = 10000
    log_step_count_steps: int = 100
    train_distribute: str | None = None
    eval_distribute: str | None = None
    device: str | None = None
    precision: str = "32"
    compile: bool = False
    progress_bar: bool | None = None
    cluster: ClusterInfo = dataclasses.field(default_factory=read_cluster_info, repr=False, compare=False)

    def __post_init__(self) -> None:
        steps, secs = self.save_checkpoints_steps, self.save_checkpoints_secs
        if steps is _DEFAULT and secs is _DEFAULT:
            steps, secs = None, 600
        elif steps is _DEFAULT:
            steps = None
        elif secs is _DEFAULT:
            secs = None
        object.__setattr__(self, "save_checkpoints_steps", steps)
        object.__setattr__(self, "save_checkpoints_secs", secs)
        if self.model_dir is not None:
            object.__setattr__(self, "model_dir", os.fspath(self.model_dir))
        problems = list(_problems(self))
        if problems:
            raise ValueError("Invalid RunConfig:\n  - " + "\n  - ".join(problems))

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes``; setting one ``save_checkpoints_*`` clears the other (as TF)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)} - {"cluster"})
        if unknown:
            raise ValueError(message("RunConfig.replace got unknown fields",
                                     expected=f"some of {[f.name for f in dataclasses.fields(self)]}",
                                     fix="Check the spelling", unknown=unknown))
        if changes.get("save_checkpoints_steps") is not None and "save_checkpoints_secs" not in changes:
            changes["save_checkpoints_secs"] = None
        if changes.get("save_checkpoints_secs") is not None and "save_checkpoints_steps" not in changes:
            changes["save_checkpoints_steps"] = None
        return dataclasses.replace(self, **changes)

    # TensorFlow's read-only cluster properties.
    task_type = property(lambda self: self.cluster.task_type)
    task_id = property(lambda self: self.cluster.task_id)
    is_chief = property(lambda self: self.cluster.is_chief)
    num_worker_replicas = property(lambda self: self.cluster.num_worker_replicas)
    num_ps_replicas = property(lambda self: self.cluster.num_ps_replicas)
    global_id_in_cluster = property(lambda self: self.cluster.global_id_in_cluster)
    master = property(lambda self: self.cluster.master)
    evaluation_master = property(lambda self: "")

    @property
    def cluster_spec(self) -> Mapping[str, Any]:
        return self.cluster.cluster_spec


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problems(config: RunConfig):
    """Yields one message per invalid field."""
    if config.model_dir == "":
        yield "model_dir must not be an empty string. Received: model_dir=''. Pass None for a temporary directory."
    if config.tf_random_seed is not None and not _is_int(config.tf_random_seed):
        yield f"tf_random_seed must be an int or None. Received: tf_random_seed={config.tf_random_seed!r}."
    if not _is_int(config.save_summary_steps) or config.save_summary_steps < 0:
        yield f"save_summary_steps must be an int >= 0. Received: save_summary_steps={config.save_summary_steps!r}."
    steps, secs = config.save_checkpoints_steps, config.save_checkpoints_secs
    if steps is not None and secs is not None:
        yield (f"save_checkpoints_steps and save_checkpoints_secs cannot both be set. Received: "
               f"save_checkpoints_steps={steps!r}, save_checkpoints_secs={secs!r}. Set one of them to None.")
    if steps is not None and (not _is_int(steps) or steps <= 0):
        yield f"save_checkpoints_steps must be a positive int or None. Received: save_checkpoints_steps={steps!r}."
    if secs is not None and (not isinstance(secs, (int, float)) or secs <= 0):
        yield f"save_checkpoints_secs must be a positive number or None. Received: save_checkpoints_secs={secs!r}."
    if config.keep_checkpoint_max is not None and (not _is_int(config.keep_checkpoint_max)
                                                   or config.keep_checkpoint_max < 0):
        yield f"keep_checkpoint_max must be an int >= 0 or None. Received: keep_checkpoint_max={config.keep_checkpoint_max!r}."
    if not isinstance(config.keep_checkpoint_every_n_hours, (int, float)) or config.keep_checkpoint_every_n_hours <= 0:
        yield ("keep_checkpoint_every_n_hours must be a positive number. "
               f"Received: keep_checkpoint_every_n_hours={config.keep_checkpoint_every_n_hours!r}.")
    if not _is_int(config.log_step_count_steps) or config.log_step_count_steps <= 0:
        yield f"log_step_count_steps must be a positive int. Received: log_step_count_steps={config.log_step_count_steps!r}."
    for name in ("train_distribute", "eval_distribute"):
        value = getattr(config, name)
        if value not in (None, "ddp", "fsdp"):
            yield f"{name} must be None, 'ddp' or 'fsdp'. Received: {name}={value!r}."
    if config.precision not in _PRECISIONS:
        yield f"precision must be one of {_PRECISIONS}. Received: precision={config.precision!r}."
    if not isinstance(config.compile, bool):
        yield f"compile must be a bool. Received: compile={config.compile!r}."
    if config.progress_bar not in (None, True, False):
        yield f"progress_bar must be True, False or None. Received: progress_bar={config.progress_bar!r}."
