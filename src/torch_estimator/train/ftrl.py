"""FTRL-proximal, the optimizer of TensorFlow's linear canned estimators, on PyTorch.

The update is the one of Keras 3 (``keras.optimizers.Ftrl``) and of TensorFlow's
``ApplyFtrl``/``ApplyFtrlV2`` kernels, which ``tf.keras.optimizers.legacy.Ftrl`` (the class
TF Estimator used) dispatches to. Per element, with ``p = -learning_rate_power``::

    l2        = l2_regularization_strength + beta / (2 * lr)
    g_shrunk  = grad + 2 * l2_shrinkage_regularization_strength * var
    new_accum = accum + grad ** 2                       # the raw gradient, not g_shrunk
    linear   += g_shrunk - (new_accum ** p - accum ** p) / lr * var
    quadratic = new_accum ** p / lr + 2 * l2
    var       = (clip(linear, -l1, l1) - linear) / quadratic  if |linear| > l1 else 0
    accum     = new_accum

Older TensorFlow CPU kernels put ``g_shrunk ** 2`` into the accumulator; current TensorFlow
and Keras 3 use ``grad ** 2``, as here. Where ``|linear| <= l1`` the weight is set to exactly 0
with a select, as TensorFlow's kernel does; Keras 3 computes ``0 / quadratic`` there, which is
the same number except when ``quadratic == 0`` (``initial_accumulator_value=0``, no L2 and a
gradient that has always been 0), where Keras 3 yields NaN and TensorFlow and this class yield 0.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.optim.optimizer import ParamsT

from torch_estimator.errors import message

# Hyper-parameter name -> (lower bound, whether the bound itself is allowed).
_BOUNDS: Mapping[str, tuple[float, bool]] = {
    # lr divides the update, so lr == 0 is special-cased in step() as "no update" (state is still
    # created): torch.distributed.checkpoint initialises optimizer state with a zero-lr step.
    "lr": (0.0, True),
    "initial_accumulator_value": (0.0, True),
    "l1_regularization_strength": (0.0, True),
    "l2_regularization_strength": (0.0, True),
    "l2_shrinkage_regularization_strength": (0.0, True),
    "beta": (0.0, True),
}


def _is_number(value: Any) -> bool:
    # numbers.Real admits numpy scalars; bool is an int subclass, but `lr=True` is always a mistake.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_hyperparameters(values: Mapping[str, Any]) -> None:
    """Raises one error that lists every invalid hyper-parameter in ``values``."""
    not_numbers = [name for name in (*_BOUNDS, "learning_rate_power")
                   if name in values and not _is_number(values[name])
                   # A tensor lr is allowed (torch convention) but not range-checked: reading it would sync the device.
                   and not (name == "lr" and isinstance(values[name], torch.Tensor))]
    if not_numbers:
        raise TypeError(" ".join(
            message(f"Ftrl hyper-parameter {name} must be a number", expected="an int or a float",
                    **{f"type({name})": type(values[name]).__name__})
            for name in not_numbers))
    problems = []
    for name, (low, inclusive) in _BOUNDS.items():
        value = values.get(name)
        if value is None or isinstance(value, torch.Tensor):
            continue
        if not (math.isfinite(value) and (value >= low if inclusive else value > low)):
            problems.append(message(f"Ftrl {name} is out of range",
                                    expected=f"a finite number {'>=' if inclusive else '>'} {low}",
                                    **{name: value}))
    power = values.get("learning_rate_power")
    if power is not None and not (math.isfinite(power) and power <= 0.0):
        problems.append(message(
            "Ftrl learning_rate_power is out of range",
            expected="a finite number <= 0 (-0.5 is the usual 1/sqrt decay; 0 keeps lr fixed)",
            learning_rate_power=power))
    if problems:
        raise ValueError(" ".join(problems))


class Ftrl(torch.optim.Optimizer):
    """FTRL-proximal ("Follow The Regularized Leader") with TensorFlow's exact update.

    Suited to shallow models over large, sparse feature spaces (TF's ``LinearClassifier``
    default): L1 drives weights to exactly 0. The update is in this module's docstring.

    Each parameter gets two state tensors of its shape, ``accumulator`` (sum of squared
    gradients, starting at ``initial_accumulator_value``) and ``linear`` (starting at 0), created
    at its first step; both are in ``state_dict()``, so checkpoints resume exactly. Every
    hyper-parameter is also a param-group key, so groups may differ, and ``lr`` may be changed in
    ``param_groups`` between steps (learning-rate schedules do). Parameters whose ``grad`` is None
    are skipped. Memory: two extra tensors per parameter; compute: a few elementwise kernels.

    Args:
        params: Parameters or param-group dicts, as for any ``torch.optim.Optimizer``.
        lr: Learning rate ``alpha``; must be >= 0. A step with ``lr == 0`` creates the state
            and leaves the weights unchanged (the limit of the update as lr -> 0 would divide
            by zero; torch.distributed.checkpoint builds optimizer state with such a step).
        learning_rate_power: How the per-coordinate rate decays with the accumulated squared
            gradient: ``-0.5`` is ``1/sqrt(n)`` (the paper's), ``0`` a fixed rate. Must be <= 0.
        initial_accumulator_value: Starting value of the accumulators; >= 0.
        l1_regularization_strength: L1 strength ``lambda_1``; >= 0. Weights whose ``|linear|``
            is at most this are exactly 0.
        l2_regularization_strength: Stabilising L2 strength ``lambda_2`` of the paper; >= 0.
        l2_shrinkage_regularization_strength: Magnitude penalty: adds ``2 * s * var`` to the
            gradient, like an L2 term ``s * var**2`` in the loss; >= 0.
        beta: The paper's ``beta``; adds ``beta / (2 * lr)`` to the L2 strength; >= 0.

    Raises:
        TypeError: A hyper-parameter is not a number (a tensor ``lr`` is accepted unchecked),
            or, at ``step()``, a gradient is sparse (``nn.Embedding(sparse=True)``).
        ValueError: A hyper-parameter is out of range (all of them are reported at once), or,
            at ``step()``, a group's ``lr`` was set to a value <= 0.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -1.0, 2.0]))
        >>> opt = Ftrl([w], lr=0.5, initial_accumulator_value=0.0)
        >>> w.grad = torch.tensor([3.0, -4.0, 1.0])
        >>> opt.step()
        >>> w.detach()
        tensor([ 0.5000, -0.5000,  1.5000])
        >>> sorted(opt.state[w])
        ['accumulator', 'linear']
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr,
            learning_rate_power=learning_rate_power,
            initial_accumulator_value=initial_accumulator_value,
            l1_regularization_strength=l1_regularization_strength,
            l2_regularization_strength=l2_regularization_strength,
            l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength,
            beta=beta,
        )
        # Checked before torch sees them, so a bad value is reported even with empty params.
        _check_hyperparameters(defaults)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a param group, checking the hyper-parameters it overrides.

        Example:
            >>> a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
            >>> opt = Ftrl([a], lr=0.1)
            >>> opt.add_param_group({"params": [b], "l1_regularization_strength": 0.01})
            >>> [group["l1_regularization_strength"] for group in opt.param_groups]
            [0.0, 0.01]
        """
        _check_hyperparameters(param_group)
        super().add_param_group(param_group)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Applies one FTRL update to every parameter that has a gradient.

        Args:
            closure: Optional function that re-evaluates the model and returns the loss.

        Returns:
            The closure's loss, or None without a closure.

        Example:
            >>> w = torch.nn.Parameter(torch.tensor([1.0]))
            >>> opt = Ftrl([w], lr=1.0, initial_accumulator_value=0.0, l1_regularization_strength=5.0)
            >>> w.grad = torch.tensor([2.0])
            >>> opt.step()
            >>> w.item()  # |linear| = |2 - 2 * 1| = 0 <= l1, so the weight is exactly 0
            0.0
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            # Schedules change lr between steps, so a value of 0 can arrive here after __init__.
            _check_hyperparameters(group)
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise TypeError(message(
                        "Ftrl does not support sparse gradients", expected="a dense gradient",
                        layout=param.grad.layout,
                        fix="Use nn.Embedding(..., sparse=False) or nn.EmbeddingBag(..., sparse=False)"))
                state = self.state[param]
                if not state:
                    state["accumulator"] = torch.full_like(
                        param, group["initial_accumulator_value"], memory_format=torch.preserve_format)
                    state["linear"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                if group["lr"] != 0:
                    _ftrl_update(param, param.grad, state["accumulator"], state["linear"], group)
        return loss


def _ftrl_update(
    var: torch.Tensor,
    grad: torch.Tensor,
    accum: torch.Tensor,
    linear: torch.Tensor,
    group: Mapping[str, Any],
) -> None:
    """Updates ``var``, ``accum`` and ``linear`` in place; the formula is in the module docstring."""
    lr = group["lr"]
    power = -group["learning_rate_power"]
    l1 = group["l1_regularization_strength"]
    l2 = group["l2_regularization_strength"] + group["beta"] / (2.0 * lr)
    shrinkage = group["l2_shrinkage_regularization_strength"]

    grad_shrunk = grad + (2.0 * shrinkage) * var if shrinkage else grad
    new_accum = accum + grad * grad
    new_accum_pow = new_accum.pow(power)
    # sigma * var uses the weights before this step, so linear must be updated before var.
    linear.add_(grad_shrunk - (new_accum_pow - accum.pow(power)) / lr * var)
    quadratic = new_accum_pow / lr + 2.0 * l2
    shrunk = (linear.clamp(-l1, l1) - linear) / quadratic
    # A select, not 0 / quadratic, so that quadratic == 0 gives 0 as TensorFlow does, not NaN.
    var.copy_(torch.where(linear.abs() > l1, shrunk, 0.0))
    accum.copy_(new_accum)
