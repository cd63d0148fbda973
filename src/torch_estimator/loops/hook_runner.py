"""Runs a list of hooks through the lifecycle and answers their fetches from a step's outputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from torch_estimator.errors import message
from torch_estimator.hooks.session_run_hook import (
    SessionRunContext,
    SessionRunValues,
    fetch_names,
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
                self._loss = float(self.loss_tensor.detach())
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
        raise KeyError(message(f"A hook fetched {name!r}, which this step does not produce",
                               expected=f"one of {available}", fix="Fetch one of the available names",
                               fetch=name))


class HookRunner:
    """Calls ``begin``/``after_create_session``/``before_run``/``after_run``/``end`` in order."""

    def __init__(self, hooks: Iterable[Any], session: Any) -> None:
        self.hooks = list(hooks)
        self.session = session
        self.context = SessionRunContext(session=session)
        self._requests: list[Any] = []
        self._began: set[int] = set()

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
        """Collects requests; returns whether any hook fetches ``summaries`` on this step."""
        self._requests = [hook.before_run(self.context) for hook in self.hooks]
        return any(request is not None and "summaries" in fetch_names(request.fetches)
                   for request in self._requests)

    def after_run(self, outputs: StepOutputs) -> None:
        for hook, request in zip(self.hooks, self._requests):
            results = None if request is None else resolve_fetches(request.fetches, outputs)
            hook.after_run(self.context, SessionRunValues(results))

    def end(self) -> None:
        for hook in self.hooks:
            hook.end(self.session)

    @property
    def stop_requested(self) -> bool:
        return self.context.stop_requested
