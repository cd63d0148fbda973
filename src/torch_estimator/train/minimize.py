"""``est.train.minimize``: a deferred update that the training loop performs.

``model_fn`` runs every step, so it cannot own the optimizer: ``minimize`` only *describes* the
update (which loss, which optimizer, learning rate, clipping). The loop creates the optimizer
once, over the Estimator's parameters, restores its state from the checkpoint, and then each
step runs backward, gradient clipping, AMP scaling and ``optimizer.step()``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import torch
from torch import nn

from torch_estimator.errors import message
from torch_estimator.modules import current_context
from torch_estimator.train.optimizers import make_optimizer


class TrainOp(NamedTuple):
    """The update ``minimize`` describes; called by the loop once per step.

    A named tuple: built with one C call on every step, its fields read without Python calls.
    """

    loss: torch.Tensor
    optimizer: Any
    learning_rate: float | None
    clip_norm: float | None
    var_list: Iterable[nn.Parameter] | None
    name: str

    def __call__(self) -> None:
        context = current_context("a TrainOp")
        run_update(self, context.optimizers, context.registry, context.scaler, context.on_optimizer_created)


def run_update(op: TrainOp, optimizers: dict[str, torch.optim.Optimizer], registry: nn.Module,
               scaler: Any, on_created: Callable[[str, torch.optim.Optimizer], None]) -> None:
    """Backward, clip, step, zero_grad: the body of one training step's update."""
    optimizer = optimizers.get(op.name)
    if optimizer is None:
        params = list(op.var_list) if op.var_list is not None else [
            p for p in registry.parameters() if p.requires_grad]
        if not params:
            raise ValueError(message("minimize found no trainable parameters",
                                     expected="modules created with est.get_module before minimize is called",
                                     fix="Build the model with est.get_module inside model_fn",
                                     var_list=op.var_list))
        optimizer = make_optimizer(op.optimizer, params, op.learning_rate)
        on_created(op.name, optimizer)
    elif op.learning_rate is not None:
        for group in optimizer.param_groups:  # a per-step value supports schedules written in model_fn
            group["lr"] = op.learning_rate
    if scaler is not None:
        scaler.scale(op.loss).backward()
        if op.clip_norm is not None:
            scaler.unscale_(optimizer)
            _clip(optimizer, op.clip_norm)
        scaler.step(optimizer)
        scaler.update()
    else:
        op.loss.backward()
        if op.clip_norm is not None:
            _clip(optimizer, op.clip_norm)
        optimizer.step()
    clear_grads(optimizer)


_ZERO_GRAD = torch.optim.Optimizer.zero_grad


def clear_grads(optimizer: torch.optim.Optimizer) -> None:
    """``optimizer.zero_grad(set_to_none=True)``: sets the gradient of every parameter to None.

    For optimizers that keep ``Optimizer.zero_grad``, this does its work directly: torch's method
    also opens a profiler range and passes a ``torch._dynamo`` guard on every call, which
    measured ~5% of a small model's training step. An optimizer that overrides ``zero_grad``
    gets its own method called.
    """
    if type(optimizer).zero_grad is not _ZERO_GRAD:
        optimizer.zero_grad(set_to_none=True)
        return
    for group in optimizer.param_groups:
        for param in group["params"]:
            param.grad = None


def _clip(optimizer: torch.optim.Optimizer, clip_norm: float) -> None:
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    torch.nn.utils.clip_grad_norm_(params, clip_norm)


def minimize(loss: torch.Tensor, optimizer: Any, learning_rate: float | None = None,
             clip_norm: float | None = None, var_list: Iterable[nn.Parameter] | None = None,
             name: str = "optimizer") -> TrainOp:
    """Describes one optimizer step on ``loss``; use it as ``EstimatorSpec.train_op``.

    Args:
        loss: The scalar training loss.
        optimizer: A name (``'Adagrad'``, ``'Adam'``, ``'Ftrl'``, ``'RMSProp'``, ``'SGD'``, with
            TensorFlow's default hyper-parameters and learning rates), a ``torch.optim.Optimizer``
            class, or a callable ``params -> torch.optim.Optimizer``. Created once; its state is
            checkpointed.
        learning_rate: Overrides the optimizer's learning rate. It is re-applied every step, so a
            value computed in ``model_fn`` from ``est.train.get_global_step()`` is a schedule.
        clip_norm: Clip the global gradient norm to this value (``clip_grad_norm_``).
        var_list: Parameters to update; default all trainable parameters of the Estimator.
        name: Optimizer name; several ``minimize`` calls with different names and ``var_list``
            give several optimizers (call each TrainOp from a custom ``train_op``).

    Returns:
        A ``TrainOp`` for ``EstimatorSpec(train_op=...)``.

    Example:
        >>> import torch, torch_estimator as est
        >>> def model_fn(features, labels, mode):
        ...     net = est.get_module("net", lambda: torch.nn.Linear(9, 1))
        ...     loss = torch.nn.functional.mse_loss(net(features), labels)
        ...     return est.EstimatorSpec(mode, loss=loss,
        ...                              train_op=est.train.minimize(loss, "Adam", learning_rate=0.01))
    """
    if not isinstance(loss, torch.Tensor) or loss.ndim and loss.numel() != 1:
        raise ValueError(message("minimize needs a scalar loss tensor", expected="a tensor with one element",
                                 fix="Reduce the loss, e.g. loss.mean()",
                                 loss=tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__))
    if clip_norm is not None and (not isinstance(clip_norm, (int, float)) or not clip_norm > 0
                                  or math.isinf(clip_norm)):
        raise ValueError(message("clip_norm must be a positive number", fix="Pass e.g. clip_norm=1.0",
                                 clip_norm=clip_norm))
    return _new_train_op((loss if not loss.ndim else loss.reshape(()), optimizer, learning_rate, clip_norm,
                          var_list, name))


_new_train_op = functools.partial(tuple.__new__, TrainOp)  # TrainOp(...) without NamedTuple's Python __new__


def get_optimizer(name: str, factory: Callable[[], torch.optim.Optimizer]) -> torch.optim.Optimizer:
    """Returns optimizer ``name``, creating it with ``factory()`` on the first call.

    For custom ``train_op`` callables: optimizers made this way are checkpointed and restored
    like those of ``minimize``.

    Example:
        >>> import torch, torch_estimator as est
        >>> def model_fn(features, labels, mode):
        ...     net = est.get_module("net", lambda: torch.nn.Linear(9, 1))
        ...     opt = est.train.get_optimizer("opt", lambda: torch.optim.SGD(net.parameters(), lr=0.1))
        ...     loss = torch.nn.functional.mse_loss(net(features), labels)
        ...     def train_op():
        ...         loss.backward(); opt.step(); opt.zero_grad()
        ...     return est.EstimatorSpec(mode, loss=loss, train_op=train_op)
    """
    context = current_context("est.train.get_optimizer")
    optimizer = context.optimizers.get(name)
    if optimizer is None:
        optimizer = factory()
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(message(f"The factory given to get_optimizer({name!r}) must return a "
                                    "torch.optim.Optimizer", returned=type(optimizer).__name__))
        context.on_optimizer_created(name, optimizer)
    return optimizer


def get_global_step() -> int:
    """The number of training steps completed before the current ``model_fn`` call."""
    return current_context("est.train.get_global_step").global_step
