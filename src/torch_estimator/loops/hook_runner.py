"""Runs a list of hooks through the lifecycle and answers their fetches from a step's outputs."""

from __future__ import annotations

import functools
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

    def __call__(self, name: str) -> Any:
        if name == "loss":
            if self._loss is None and self.loss_tensor is not None:
                self._loss = self.loss_tensor.item()
            return self._loss
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


def _no_results(outputs: StepOutputs) -> None:
    return None


def _single(name: str) -> Callable[[StepOutputs], Any]:
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
        self._plan: list[tuple[Any, Callable[[StepOutputs], Any] | None]] = []
        self._began: set[int] = set()
        self._compiled_requests: dict[int, tuple[Any, Callable[[StepOutputs], Any], bool]] = {}

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

    def before_run(self) -> bool:
        """Collects requests into this step's plan; returns whether any fetches ``summaries``."""
        context = self.context
        plan = []
        wants_summaries = False
        for hook in self.hooks:
            request = hook.before_run(context)
            if request is None:
                plan.append((hook, None))
                continue
            resolver, wants = self._compiled(request)
            wants_summaries = wants_summaries or wants
            plan.append((hook, resolver))
        self._plan = plan
        return wants_summaries

    def after_run(self, outputs: StepOutputs) -> None:
        context = self.context
        for hook, resolver in self._plan:
            hook.after_run(context, _NO_VALUES if resolver is None else SessionRunValues(resolver(outputs)))

    def _compiled(self, request: Any) -> tuple[Callable[[StepOutputs], Any], bool]:
        """(resolver, fetches summaries?) for a request; hooks mostly return the same request
        object every step, so the analysis is done once per object when its fetches cannot
        change (None, a name, a tuple of names). Lists and dicts may be edited in place between
        steps, so they are analysed on every step."""
        entry = self._compiled_requests.get(id(request))
        if entry is not None and entry[0] is request:
            return entry[1], entry[2]
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
        return self.context.stop_requested
