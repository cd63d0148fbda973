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
        restored_rng: ``(global_step, RNG state)`` of the last restore for training: modules
            created during that step put the RNG back, so that their (discarded) random
            initialisation does not shift the random stream (dropout) of the resumed run.
    """

    registry: ModuleRegistry = dataclasses.field(default_factory=ModuleRegistry)
    optimizers: dict[str, torch.optim.Optimizer] = dataclasses.field(default_factory=dict)
    global_step: int = 0
    scaler: Any = None
    checkpoint_path: str | None = None
    restore_from: str | None = None
    warm_start: WarmStartSettings | None = None
    compile_modules: bool = False
    restored_rng: tuple[int, torch.Tensor] | None = None

    def __post_init__(self) -> None:
        self.registry.on_create = self._module_created

    # -- restoring ----------------------------------------------------------------------------
    def restore(self, path: str, *, rng: bool) -> None:
        """Points the state at checkpoint ``path``: loads step (and RNG), existing modules and
        optimizers now, and modules created later on creation."""
        values = storage.load_objects(path, ["global_step", "rng.torch"])
        self.global_step = int(values.get("global_step", 0))
        self.restored_rng = None
        if rng and "rng.torch" in values:
            torch.set_rng_state(values["rng.torch"])
            self.restored_rng = (self.global_step, values["rng.torch"])
        for name, module in self.registry.named_children():
            storage.load_module(path, name, module)
        for name, optimizer in self.optimizers.items():
            storage.load_optimizer(path, name, self.registry, optimizer)
        if self.scaler is not None:
            storage.load_scaler(path, self.scaler)
        self.restore_from = self.checkpoint_path = path
        self.warm_start = None

    def _module_created(self, name: str, module: torch.nn.Module) -> None:
        if self.compile_modules:
            module.compile()  # in place: parameter names, and so checkpoint keys, are unchanged
        if self.restore_from is not None:
            storage.load_module(self.restore_from, name, module)
            if self.restored_rng is not None and self.restored_rng[0] == self.global_step:
                torch.set_rng_state(self.restored_rng[1])
        elif self.warm_start is not None:
            loaded = warm_start_module(self.warm_start, name, module)
            if loaded:
                logger.info("Warm-started %d tensors of module %r from %s.", len(loaded), name,
                            self.warm_start.ckpt_to_initialize_from)

    def optimizer_created(self, name: str, optimizer: torch.optim.Optimizer) -> None:
        """Loads a newly created optimizer's state from the pending checkpoint, if any."""
        self.optimizers[name] = optimizer
        if self.restore_from is not None:
            storage.load_optimizer(self.restore_from, name, self.registry, optimizer)

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
