"""``est.get_module``: modules that persist across ``model_fn`` calls, by name.

``model_fn`` runs once per batch, eagerly. A module built with ``nn.Linear(...)`` inside it would
be a new, untrained module on every call, so modules are made through
``est.get_module(name, factory)``: the first call runs ``factory()`` and keeps the module in the
Estimator's :class:`ModuleRegistry` (an ``nn.Module`` whose children are the named modules, so
checkpoint keys read ``<name>.<param>``); later calls return the same object. This is
TensorFlow's ``get_variable``, for modules.

The registry is found through a context variable that the loops set around each ``model_fn``
call (:func:`model_fn_scope`): explicit state, scoped to the call, safe with interleaved
``predict`` generators and threads.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch
from torch import nn

from torch_estimator.errors import message

M = TypeVar("M", bound=nn.Module)


class ModuleRegistry(nn.Module):
    """The root module: every module made by :func:`get_module`, as named children.

    It is what is checkpointed, wrapped for distribution and exported.
    """

    def __init__(self) -> None:
        super().__init__()
        self.on_create: Callable[[str, nn.Module], None] | None = None
        # True once weights come from a checkpoint: factories then run on a forked RNG, since
        # their random initialisation is overwritten and must not shift the restored stream.
        self.isolate_factory_rng = False

    @property
    def is_empty(self) -> bool:
        return not self._modules

    def get_or_create(self, name: str, factory: Callable[[], M], context: ModelFnContext) -> M:
        module = self._modules.get(name)
        if module is not None:
            return module  # type: ignore[return-value]
        _check_name(name)
        context.building += 1
        try:
            with torch.random.fork_rng(devices=[]) if self.isolate_factory_rng else contextlib.nullcontext():
                module = factory()
        finally:
            context.building -= 1
        if not isinstance(module, nn.Module):
            raise TypeError(message(
                f"The factory given to est.get_module({name!r}) must return a torch.nn.Module",
                expected="an nn.Module (a Keras 3 model on the torch backend is one)",
                fix="Return the module from the factory, e.g. lambda: nn.Linear(3, 1)",
                returned=type(module).__name__))
        module.to(context.device)
        module.train(context.mode == "train")
        self.add_module(name, module)
        if self.on_create is not None:
            self.on_create(name, module)
        return module  # type: ignore[return-value]


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name or "." in name:
        raise ValueError(message(
            "est.get_module needs a non-empty name without '.'",
            expected="a string such as 'net' or 'dnn/hiddenlayer_0' ('.' separates checkpoint keys)",
            fix="Rename the module", name=name))


@dataclasses.dataclass
class ModelFnContext:
    """What a running ``model_fn`` can reach: the registry, optimizers, step, summaries."""

    registry: ModuleRegistry
    mode: str
    device: torch.device
    global_step: int = 0
    optimizers: dict[str, torch.optim.Optimizer] = dataclasses.field(default_factory=dict)
    summaries: list | None = None  # collects est.summary calls on steps that write summaries
    scaler: Any = None  # torch.amp.GradScaler for precision='16-mixed'
    on_optimizer_created: Callable[[str, torch.optim.Optimizer], None] | None = None
    building: int = 0  # > 0 while a get_module factory runs
    stray_parameters: list[tuple[nn.Module, str]] = dataclasses.field(default_factory=list)


_CONTEXT: contextvars.ContextVar[ModelFnContext | None] = contextvars.ContextVar(
    "torch_estimator_model_fn_context", default=None)


def current_context(caller: str) -> ModelFnContext:
    """The context of the running ``model_fn``; a clear error outside one."""
    context = _CONTEXT.get()
    if context is None:
        raise RuntimeError(message(
            f"{caller} can only be called inside a model_fn run by an Estimator",
            expected="a call from model_fn(features, labels, mode, ...) during train/evaluate/predict",
            fix="Move the call into model_fn", caller=caller))
    return context


def get_module(name: str, factory: Callable[[], M]) -> M:
    """Returns the module called ``name``, creating it with ``factory()`` on the first call.

    Args:
        name: Unique name; checkpoint keys are ``<name>.<parameter>``. No ``'.'``.
        factory: Zero-argument callable returning an ``nn.Module``; called once.

    Returns:
        The same module object on every call (with its trained weights).

    Raises:
        RuntimeError: outside a ``model_fn`` run by an Estimator.
        TypeError: if ``factory`` returns something other than an ``nn.Module``.

    Example:
        >>> import torch_estimator as est
        >>> from torch import nn
        >>> def model_fn(features, labels, mode):
        ...     net = est.get_module("net", lambda: nn.Linear(9, 1))
        ...     return net(features)
    """
    context = _CONTEXT.get()  # current_context(), inlined: model_fn calls this on every step
    if context is None:
        current_context("est.get_module")  # raises the error
    module = context.registry._modules.get(name)
    return module if module is not None else context.registry.get_or_create(name, factory, context)


# What model_fn_scope does on entry and exit, for loops that set the scope inline: set_context
# makes a ModelFnContext current and returns the token that reset_context takes.
set_context = _CONTEXT.set
reset_context = _CONTEXT.reset


class model_fn_scope:  # noqa: N801 - used like a function: `with model_fn_scope(context):`
    """Makes ``context`` current for one ``model_fn`` call and checks for stray parameters.

    A class rather than ``@contextmanager``: it runs twice per training step.
    """

    __slots__ = ("context", "token")

    def __init__(self, context: ModelFnContext) -> None:
        self.context = context

    def __enter__(self) -> ModelFnContext:
        self.token = _CONTEXT.set(self.context)
        return self.context

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        _CONTEXT.reset(self.token)
        if exc_type is None and self.context.stray_parameters:
            raise_for_stray_parameters(self.context)


def raise_for_stray_parameters(context: ModelFnContext) -> None:
    # Parameters registered during the call are fine when they ended up inside a registered
    # module (Keras layers build their weights on the first call); anything else was made
    # outside get_module and would be re-created, untrained, on every call.
    owned = {id(p) for p in context.registry.parameters()}
    strays = [(type(module).__name__, name) for module, name in context.stray_parameters
              if id(getattr(module, name, None)) not in owned]
    context.stray_parameters.clear()
    if strays:
        raise RuntimeError(message(
            "model_fn created a module or parameter without est.get_module; it would be re-created "
            "with fresh weights on every call and never trained",
            expected="modules made with net = est.get_module('net', lambda: MyNet(...))",
            fix="Wrap the construction in est.get_module(name, factory)",
            created=strays[:5]))


@contextlib.contextmanager
def watch_parameter_creation() -> Iterator[None]:
    """Records parameters registered while a ``model_fn`` runs outside a ``get_module`` factory.

    Installed once per loop run (a global torch hook that only looks at this thread's context),
    so the per-step cost is nil.
    """

    def hook(module: nn.Module, name: str, param: Any) -> None:
        context = _CONTEXT.get()
        if context is not None and context.building == 0 and param is not None:
            context.stray_parameters.append((module, name))

    handle = nn.modules.module.register_module_parameter_registration_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _gathered(registry: ModuleRegistry) -> set[int]:
    """Under FSDP the graph holds FSDP's gathered copy of each sharded parameter, not the shard."""
    ids = set()
    for module in registry.modules():
        group = module._get_fsdp_state()._fsdp_param_group if hasattr(module, "_get_fsdp_state") else None
        ids.update(id(param.unsharded_param) for param in (group.fsdp_params if group else ()))
    return ids


def check_graph_parameters(loss: torch.Tensor, registry: ModuleRegistry) -> None:
    """Raises if ``loss`` depends on a trainable tensor that is not a registered parameter.

    Catches ``torch.nn.Parameter(...)`` made inside ``model_fn`` (no module owns it, so the
    registration hook cannot see it). Walks the autograd graph once, on a run's first step.
    """
    owned = {id(p) for p in registry.parameters()}
    seen: set[int] = set()
    stack = [loss.grad_fn] if loss.grad_fn is not None else []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)
        if variable is not None and id(variable) not in owned and id(variable) not in _gathered(registry):
            raise RuntimeError(message(
                "The loss depends on a trainable tensor that no est.get_module module owns; it "
                "would be re-created on every model_fn call and its updates lost",
                expected="every trainable tensor inside a module made with est.get_module",
                fix="Hold the tensor in an nn.Module (as an nn.Parameter) created by est.get_module",
                shape=tuple(variable.shape)))
        stack.extend(next_fn for next_fn, _ in node.next_functions)
