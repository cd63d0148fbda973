"""Runs a list of hooks through the lifecycle and answers their fetches from a step's outputs.

Most of the Estimator's default training hooks act every N steps or seconds (summaries, the
step counter, checkpoints, progress lines). Calling each of them on every step costs more than
a small model's step is worth, so a hook may tell the runner when it next needs to run: a
method ``_wake_at(global_step) -> (step, seconds)`` promising that its ``before_run`` and
``after_run`` do nothing on the steps that start at a global step below ``step`` while
``time.monotonic()`` is below ``seconds`` (either may be ``math.inf``). The runner skips such a
hook until then, asks again after each step it ran, and still calls every hook, in order, on
the steps where any of them is due. Hooks without ``_wake_at`` (the user's, ``NanTensorHook``)
run on every step. It is the built-in hooks' private protocol, not part of TensorFlow's.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch

from torch_estimator.errors import ReadableKeyError, message
from torch_estimator.hooks.session_run_hook import (
    SessionRunContext,
    SessionRunValues,
    mentions,
    resolve_fetches,
)


class StepOutputs:
    """Fetchable values of one step: ``loss``, ``global_step``, ``summaries``, predictions keys."""

    __slots__ = ("predictions", "loss_tensor", "global_step", "summaries", "_loss")

    def __init__(self, predictions: Any, loss: torch.Tensor | None, global_step: int, summaries: list | None):
        self.predictions, self.loss_tensor = predictions, loss
        self.global_step, self.summaries = global_step, summaries
        self._loss: float | None = None

    def loss_value(self) -> float | None:
        """The loss as a Python float (one device sync per step, however many hooks ask)."""
        if self._loss is None and self.loss_tensor is not None:
            self._loss = self.loss_tensor.item()
        return self._loss

    def __call__(self, name: str) -> Any:
        if name == "loss":
            return self.loss_value()
        if name == "global_step":
            return self.global_step
        if name == "summaries":
            return self.summaries
        if isinstance(self.predictions, Mapping) and name in self.predictions:
            value = self.predictions[name]
            return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        available = ["loss", "global_step", "summaries"]
        if isinstance(self.predictions, Mapping):
            available += list(self.predictions)
        raise ReadableKeyError(message(f"A hook fetched {name!r}, which this step does not produce",
                               expected=f"one of {available}", fix="Fetch one of the available names",
                               fetch=name))


_NO_VALUES = SessionRunValues(None)  # immutable: shared by every hook that fetched nothing
_values = functools.partial(tuple.__new__, SessionRunValues)  # SessionRunValues without a Python call


def _no_results(outputs: StepOutputs) -> None:
    return None


def _single(name: str) -> Callable[[StepOutputs], Any]:
    if name == "loss":
        return StepOutputs.loss_value
    return lambda outputs: outputs(name)


def _flat(names: tuple[str, ...], kind: type) -> Callable[[StepOutputs], Any]:
    if kind is tuple:
        return lambda outputs: tuple([outputs(name) for name in names])
    return lambda outputs: [outputs(name) for name in names]


def _resolve(fetches: Any, outputs: StepOutputs) -> Any:
    return resolve_fetches(fetches, outputs)


class HookRunner:
    """Calls ``begin``/``after_create_session``/``before_run``/``after_run``/``end`` in order."""

    def __init__(self, hooks: Iterable[Any], session: Any) -> None:
        self.hooks = list(hooks)
        self.session = session
        self.context = SessionRunContext(session=session)
        # This step's hooks and how to answer their fetches; empty when no hook runs this step
        # (the training loop then skips after_run).
        self.plan: list[tuple[Any, Callable[[StepOutputs], Any] | None]] = []
        self._began: set[int] = set()
        self._compiled_requests: dict[int, tuple[Any, Callable[[StepOutputs], Any], bool]] = {}
        # The schedule (see the module docstring): hooks run every step, and the step and time
        # at which the others are next due. Until create_session, every hook runs.
        self._every_step: list[Any] = self.hooks
        self._scheduled: list[Any] = []
        self._due_step = -math.inf
        self._due_time = math.inf
        self._all_awake = True
        # The first step and time at which before_run has any hook to call: a loop may skip
        # before_run and after_run on steps before both (-inf while some hook runs every step).
        self.wake_step = -math.inf
        self.wake_time = math.inf

    def begin(self) -> None:
        for hook in self.hooks:
            hook.begin()
            self._began.add(id(hook))

    def create_session(self, spec_hooks: Iterable[Any] = ()) -> None:
        """Adopts the hooks of the run's first EstimatorSpec, then ``after_create_session``."""
        for hook in spec_hooks:
            if id(hook) not in self._began:
                hook.begin()
                self._began.add(id(hook))
                self.hooks.append(hook)
        for hook in self.hooks:
            after_create_session = getattr(hook, "after_create_session", None)  # optional in the Protocol
            if after_create_session is not None:
                after_create_session(self.session, None)
        self._every_step = [hook for hook in self.hooks if getattr(hook, "_wake_at", None) is None]
        self._scheduled = [hook for hook in self.hooks if getattr(hook, "_wake_at", None) is not None]
        if not self._scheduled:  # nothing to schedule: before_run is for the every-step hooks alone
            self._due_step = self.wake_step = -math.inf if self._every_step else math.inf

    def before_run(self, global_step: int | None = None) -> bool:
        """Collects requests into this step's plan; returns whether any fetches ``summaries``.

        With ``global_step`` (the step about to run), hooks that are not due are skipped.
        """
        self._all_awake = awake = (global_step is None or global_step >= self._due_step
                                   or (self._due_time != math.inf and time.monotonic() >= self._due_time))
        context = self.context
        plan = []
        wants_summaries = False
        compiled = self._compiled_requests
        for hook in self.hooks if awake else self._every_step:
            request = hook.before_run(context)
            if request is None:
                plan.append((hook, None))
                continue
            entry = compiled.get(id(request))
            if entry is not None and entry[0] is request:
                resolver, wants = entry[1], entry[2]
            else:
                resolver, wants = self._compiled(request)
            wants_summaries = wants_summaries or wants
            plan.append((hook, resolver))
        self.plan = plan
        return wants_summaries

    def after_run(self, outputs: StepOutputs) -> None:
        context = self.context
        for hook, resolver in self.plan:
            hook.after_run(context, _NO_VALUES if resolver is None else _values((resolver(outputs), None, None)))
        if self._all_awake and self._scheduled:
            self._schedule(outputs.global_step)

    def _schedule(self, global_step: int) -> None:
        """Asks the scheduled hooks when they are next due (after a step on which they ran)."""
        wake_step, wake_time = math.inf, math.inf
        for hook in self._scheduled:
            step, seconds = hook._wake_at(global_step)
            wake_step, wake_time = min(wake_step, step), min(wake_time, seconds)
        self._due_step, self._due_time = wake_step, wake_time
        self.wake_step = -math.inf if self._every_step else wake_step
        self.wake_time = wake_time

    def _compiled(self, request: Any) -> tuple[Callable[[StepOutputs], Any], bool]:
        """(resolver, fetches summaries?) for a request not found in the cache ``before_run``
        reads; hooks mostly return the same request object every step, so the analysis is cached
        per object when its fetches cannot change (None, a name, a tuple of names). Lists and
        dicts may be edited in place between steps, so they are analysed on every step."""
        fetches = request.fetches
        immutable = True
        if fetches is None:
            resolver = _no_results
        elif type(fetches) is str:
            resolver = _single(fetches)
        elif type(fetches) in (tuple, list) and all(type(name) is str for name in fetches):
            resolver = _flat(tuple(fetches), type(fetches))
            immutable = type(fetches) is tuple
        else:
            resolver = functools.partial(_resolve, fetches)
            immutable = False
        wants = fetches is not None and mentions(fetches, "summaries")
        if immutable:
            if len(self._compiled_requests) > 256:  # hooks that build new requests every step
                self._compiled_requests.clear()
            self._compiled_requests[id(request)] = (request, resolver, wants)
        return resolver, wants

    def end(self) -> None:
        for hook in self.hooks:
            hook.end(self.session)

    @property
    def stop_requested(self) -> bool:
        return self.context._stop_requested
