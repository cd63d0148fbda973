"""``TrainState``: everything a run changes, in one explicit object.

The Estimator keeps one resident ``TrainState`` across ``train``/``evaluate``/``predict`` calls
(the model is not reloaded from disk on every call, unlike TensorFlow's Estimator); it is
replaced from disk only when the checkpoint to use differs from the one in memory.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import torch

from torch_estimator.checkpoint import storage
from torch_estimator.checkpoint.warm_start import WarmStartSettings, warm_start_module
from torch_estimator.modules import ModuleRegistry

logger = logging.getLogger("torch_estimator")


@dataclasses.dataclass
class TrainState:
    """Modules, optimizers, step and pending restores of one Estimator.

    Attributes:
        registry: Root module holding every ``est.get_module`` module.
        optimizers: Optimizers by name (``minimize(name=...)`` / ``est.train.get_optimizer``).
        global_step: Completed training steps.
        scaler: ``torch.amp.GradScaler`` for ``precision='16-mixed'``, else None.
        checkpoint_path: The checkpoint whose values are in memory (None: fresh weights).
        restore_from: Checkpoint that modules and optimizers created later must be loaded from.
        warm_start: Settings applied to modules created later when there is no checkpoint.
        compile_modules: ``torch.compile`` each module when it is created (``RunConfig.compile``).
        rng_checkpoint: The checkpoint whose saved RNG state torch's global RNG continues
            (set by a restore for training and by each save), so training resumes the exact
            random stream (dropout) even after an evaluate-only restore.
        input_source: The resumable training input being read (``state_dict``/``load_state_dict``,
            e.g. an ``est.data`` dataset); its position is saved with each checkpoint.
        input_position: The last saved or restored position of the training input; the next
            ``train`` continues there if its input has the same fingerprint. None once the
            input was read to its end (the next ``train`` starts it over, as TensorFlow did).
        replication: The training processes when there are several (modules are made
            data-parallel as they are created; each rank's input position is saved), else None.
        last_loss: The loss tensor of the latest training step (end-of-run reports read it).
    """

    registry: ModuleRegistry = dataclasses.field(default_factory=ModuleRegistry)
    optimizers: dict[str, torch.optim.Optimizer] = dataclasses.field(default_factory=dict)
    global_step: int = 0
    scaler: Any = None
    checkpoint_path: str | None = None
    restore_from: str | None = None
    warm_start: WarmStartSettings | None = None
    compile_modules: bool = False
    rng_checkpoint: str | None = None
    input_source: Any = None
    input_position: dict[str, Any] | None = None
    replication: Any = None
    last_loss: torch.Tensor | None = None

    def __post_init__(self) -> None:
        self.registry.on_create = self._module_created

    # -- restoring ----------------------------------------------------------------------------
    def restore(self, path: str, *, rng: bool) -> None:
        """Points the state at checkpoint ``path``: loads step (and RNG), existing modules and
        optimizers now, and modules created later on creation."""
        values = storage.load_objects(path, ["global_step", "input"])
        self.global_step = int(values.get("global_step", 0))
        self.input_position = self._own_position(json.loads(values["input"])) if "input" in values else None
        if rng:
            self.restore_rng(path)
        # Modules created from now on get their weights from the checkpoint: their random
        # initialisation must not consume the restored RNG stream (dropout would then differ).
        self.registry.isolate_factory_rng = True
        for name, module in self.registry.named_children():
            storage.load_module(path, name, module)
        for name, optimizer in self.optimizers.items():
            storage.load_optimizer(path, name, self.registry, optimizer)
        if self.scaler is not None:
            storage.load_scaler(path, self.scaler)
        self.restore_from = self.checkpoint_path = path
        self.warm_start = None

    def _own_position(self, saved: Any) -> dict[str, Any] | None:
        """This rank's input position from a checkpoint's ``input`` value.

        Several ranks save ``{"ranks": [position of rank 0, ...]}``. At another world size the
        shards differ, so no saved position applies and the input starts over.
        """
        if not (isinstance(saved, dict) and "ranks" in saved):
            return saved if self.replication is None else None
        world, rank = (1, 0) if self.replication is None else (self.replication.world_size, self.replication.rank)
        if len(saved["ranks"]) != world:
            logger.info("The checkpoint was written by %d processes, this run has %d: the training input "
                        "starts from the beginning of its shard.", len(saved["ranks"]), world)
            return None
        return saved["ranks"][rank]

    def restore_rng(self, path: str) -> None:
        """Continues torch's RNG stream from the one saved in checkpoint ``path``."""
        values = storage.load_objects(path, ["rng.torch"])
        if "rng.torch" in values:
            torch.set_rng_state(values["rng.torch"])
        self.rng_checkpoint = path

    def _module_created(self, name: str, module: torch.nn.Module) -> None:
        try:
            self._initialise_module(name, module)
        except BaseException:
            # Unregister it, or the next model_fn call would use its random initial weights.
            delattr(self.registry, name)
            raise

    def _initialise_module(self, name: str, module: torch.nn.Module) -> None:
        if self.compile_modules:
            module.compile()  # in place: parameter names, and so checkpoint keys, are unchanged
        if self.restore_from is not None:
            storage.load_module(self.restore_from, name, module)
        elif self.warm_start is not None:
            loaded = warm_start_module(self.warm_start, name, module)
            if loaded:
                logger.info("Warm-started %d tensors of module %r from %s.", len(loaded), name,
                            self.warm_start.ckpt_to_initialize_from)
        if self.replication is not None:
            self.replication.wrap(name, module)  # after loading: the wrapper starts from rank 0's values

    def optimizer_created(self, name: str, optimizer: torch.optim.Optimizer) -> None:
        """Loads a newly created optimizer's state from the pending checkpoint, if any."""
        if self.restore_from is not None:
            storage.load_optimizer(self.restore_from, name, self.registry, optimizer)
        self.optimizers[name] = optimizer  # only once loaded: a failed load is retried, not skipped

    # -- saving -------------------------------------------------------------------------------
    def checkpoint_state(self) -> dict[str, Any]:
        """The nested dict written to a checkpoint."""
        state: dict[str, Any] = {
            "model": self.registry.state_dict(),
            "optimizer": {name: storage.optimizer_state(self.registry, opt)
                          for name, opt in self.optimizers.items()},
            "global_step": self.global_step,
            "rng": {"torch": torch.get_rng_state()},
        }
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        if self.input_source is not None:
            self.input_position = self.input_source.state_dict()
        if self.replication is not None:  # every rank reads its own shard: keep each one's position
            state["input"] = json.dumps({"ranks": self.replication.gather(self.input_position)})
        elif self.input_position is not None:
            state["input"] = json.dumps(self.input_position)  # a string: no pickled objects
        return state

    def resume_input(self, source: Any) -> None:
        """Continues a resumable training input where the saved position says, if it matches.

        ``source`` is what ``input_fn`` returned; inputs without ``state_dict`` and
        ``load_state_dict`` (plain iterables, single batches) are read from their start.
        """
        if not (callable(getattr(source, "state_dict", None)) and callable(getattr(source, "load_state_dict", None))):
            self.input_source = None
            return
        position = self.input_position
        if position is not None and position.get("fingerprint") == source.state_dict().get("fingerprint"):
            source.load_state_dict(position)
        elif position is not None:
            logger.info("The training input changed since the last checkpoint (other files or options): "
                        "reading it from the start.")
        self.input_source = source

    def release_input(self) -> None:
        """The run is over: remember where its input stopped, for the next ``train``."""
        if self.input_source is not None:
            self.input_position = self.input_source.state_dict()
            self.input_source = None

    def input_exhausted(self) -> None:
        """The training input was read to its end: the next run starts it over."""
        self.input_source = None
        self.input_position = None
