"""The compiled Keras optimizer, driven by the Estimator and checkpointed with it.

The Keras optimizer itself trains (no translation to a ``torch.optim`` class): Keras's Adam
applies epsilon to the uncorrected second moment, its schedules read its own ``iterations``
and options such as ``global_clipnorm``, ``use_ema`` or ``gradient_accumulation_steps`` live
inside ``apply``, so only the optimizer itself has Keras's numerics. :class:`KerasOptimizer`
presents it as a ``torch.optim.Optimizer`` to ``est.train.minimize``: ``step()`` is one
``apply`` of the gradients, and the Keras optimizer's variables (iteration count, learning
rate, slots; torch tensors on the torch backend) are its state, so they are saved with every
checkpoint (``optimizer.keras.state.<first parameter>.keras/<index>/<variable name>``) and
restored, in place, when training resumes.
"""

from __future__ import annotations

from typing import Any

import torch

from torch_estimator.errors import CheckpointError, message

_PREFIX = "keras/"


class KerasOptimizer(torch.optim.Optimizer):
    """A Keras optimizer as a ``torch.optim.Optimizer`` over a Keras model's trainable variables.

    Keras keeps optimizer variables that belong to no single parameter (the iteration count),
    so all of them are stored as the state of the first parameter; the other parameters have
    no state of their own.

    Args:
        optimizer: The compiled Keras optimizer; built here over ``variables`` if it is not yet.
        variables: The model's trainable Keras variables (what the optimizer updates).
    """

    def __init__(self, optimizer: Any, variables: list[Any]) -> None:
        super().__init__([variable.value for variable in variables], {})
        self.keras_optimizer = optimizer
        self.variables = variables
        if not optimizer.built:
            optimizer.build(variables)
        self.state[self.param_groups[0]["params"][0]] = self._keras_state()

    def _keras_state(self) -> dict[str, torch.Tensor]:
        # The variables' own tensors: Keras assigns them in place, so this view stays current.
        # Keys drop the optimizer's name: Keras numbers it per process (adam, adam_1, ...).
        return {f"{_PREFIX}{index}/{variable.path.split('/', 1)[-1]}": variable.value
                for index, variable in enumerate(self.keras_optimizer.variables)}

    @torch.no_grad()  # as Keras's own torch train_step
    def step(self, closure: Any = None) -> None:
        """Applies the parameters' gradients with the Keras optimizer (``optimizer.apply``)."""
        if closure is not None:
            with torch.enable_grad():
                closure()
        gradients = [variable.value.grad for variable in self.variables]
        self.keras_optimizer.apply(gradients, self.variables)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Copies saved Keras optimizer variables into the live ones, in place.

        Raises:
            CheckpointError: if the saved variables are not this optimizer's (other optimizer
                or model).
        """
        saved = dict(state_dict["state"].get(0, {}))
        current = self._keras_state()
        if sorted(saved) != sorted(current):
            raise CheckpointError(message(
                "The checkpoint's Keras optimizer state does not match the compiled optimizer",
                expected=f"{len(current)} variables {sorted(current)[:4]}...",
                fix="Use a new model_dir when the model or its optimizer changed",
                saved=sorted(saved)[:4]))
        for key, tensor in current.items():
            tensor.copy_(saved[key].to(tensor.dtype).reshape(tensor.shape))
