"""``TrainState``: everything a run changes, in one explicit object.

The Estimator keeps one resident ``TrainState`` across ``train``/``evaluate``/``predict`` calls
(the model is not reloaded from disk on every call, unlike TensorFlow's Estimator); it is
replaced from disk only when the checkpoint to use differs from the one in memory.
"""

from __future__ import annotations

import dataclasses
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

    def __post_init__(self) -> None:
        self.registry.on_create = self._module_created

    # -- restoring ----------------------------------------------------------------------------
    def restore(self, path: str, *, rng: bool) -> None:
        """Points the state at checkpoint ``path``: loads step (and RNG), existing modules and
        optimizers now, and modules created later on creation."""
        values = storage.load_objects(path, ["global_step"])
        self.global_step = int(values.get("global_step", 0))
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
        return state
