"""The hook lifecycle: TensorFlow's ``SessionRunHook``, for eager PyTorch loops.

A run (``train``, ``evaluate`` or ``predict``) calls, on every hook::

    begin()
    after_create_session(session, coord)         # weights restored, before the first step
    for each step:
        args = before_run(run_context)           # may return SessionRunArgs(fetches)
        ... model_fn, backward, optimizer step ...
        after_run(run_context, run_values)       # run_values.results holds the fetches
    end(session)

Differences from TensorFlow, because there is no graph:

* ``session`` is the run's :class:`~torch_estimator.state.TrainState` (modules, optimizers,
  ``global_step``); ``coord`` is None.
* Fetches are **names**: ``'loss'``, ``'global_step'`` (the step count after this step's
  update), any key of the ``predictions`` the model_fn returned, and ``'summaries'`` (asks the
  loop to record ``est.summary`` calls on this step). A fetch may be one name, a list, a tuple
  or a dict of names; results come back in the same structure, as Python floats or numpy arrays.
* Hooks in an ``EstimatorSpec`` are taken from the run's first ``model_fn`` call (TensorFlow
  built the graph once; ours runs every step).
* ``after_run``'s ``run_context.request_stop()`` ends the run after the current step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

from torch_estimator.errors import message


class SessionRunArgs(NamedTuple):
    """What a hook asks for in ``before_run``: ``fetches`` (names); the rest is for compatibility."""

    fetches: Any
    feed_dict: Any = None
    options: Any = None


class SessionRunValues(NamedTuple):
    """What a hook receives in ``after_run``: ``results`` mirrors the requested fetches."""

    results: Any
    options: Any = None
    run_metadata: Any = None


class SessionRunContext:
    """The step being run, and the way for a hook to stop the run."""

    __slots__ = ("original_args", "session", "_stop_requested")

    def __init__(self, original_args: Any = None, session: Any = None) -> None:
        self.original_args = original_args
        self.session = session
        self._stop_requested = False

    def request_stop(self) -> None:
        """Ends the run after the current step (``train`` then saves a final checkpoint)."""
        self._stop_requested = True

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested


@runtime_checkable
class SessionRunHookProtocol(Protocol):
    """The hook interface; any object with these four methods is a hook."""

    def begin(self) -> None: ...

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None: ...

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None: ...

    def end(self, session: Any) -> None: ...


class SessionRunHook:
    """Base class with no-op methods; subclass and override what you need (TensorFlow's name)."""

    def begin(self) -> None:
        """Called once before the run starts."""

    def after_create_session(self, session: Any, coord: Any) -> None:
        """Called once the weights are restored, before the first step."""

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        """Called before each step; return ``SessionRunArgs(fetches)`` to receive values."""
        return None

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        """Called after each step with the requested values."""

    def end(self, session: Any) -> None:
        """Called at the end of the run (also when the input is exhausted)."""


def resolve_fetches(fetches: Any, lookup: Callable[[str], Any]) -> Any:
    """Replaces every name in a fetch structure with ``lookup(name)``."""
    if fetches is None:
        return None
    if type(fetches) is str:
        return lookup(fetches)
    if isinstance(fetches, Mapping):
        return {key: lookup(value) if type(value) is str else resolve_fetches(value, lookup)
                for key, value in fetches.items()}
    if isinstance(fetches, (list, tuple)):
        return type(fetches)(lookup(value) if type(value) is str else resolve_fetches(value, lookup)
                             for value in fetches)
    if isinstance(fetches, str):  # a str subclass (np.str_, a str Enum) is a name too
        return lookup(str(fetches))
    raise _not_a_fetch(fetches)


def mentions(fetches: Any, name: str) -> bool:
    """Whether ``name`` is fetched (fast for the flat structures hooks use)."""
    if isinstance(fetches, str):
        return fetches == name
    if isinstance(fetches, Mapping):
        values = fetches.values()
    elif isinstance(fetches, (list, tuple)):
        values = fetches
    elif fetches is None:
        return False
    else:  # `name in tensor` or `name in 3` would fail with an unrelated message
        raise _not_a_fetch(fetches)
    if name in values:
        return True
    return any(not isinstance(value, str) and mentions(value, name) for value in values)


def fetch_names(fetches: Any) -> list[str]:
    """All names mentioned in a fetch structure."""
    if fetches is None:
        return []
    if isinstance(fetches, str):
        return [fetches]
    if isinstance(fetches, Mapping):
        values = fetches.values()
    elif isinstance(fetches, (list, tuple)):
        values = fetches
    else:
        raise _not_a_fetch(fetches)
    return [name for value in values for name in fetch_names(value)]


def _not_a_fetch(fetches: Any) -> TypeError:
    return TypeError(message("A hook fetch must be a name, or a list/tuple/dict of names",
                             expected="'loss', 'global_step', a predictions key or 'summaries'",
                             fix="Fetch values by name; tensors from model_fn change every step",
                             fetch=type(fetches).__name__))


class SecondOrStepTimer:
    """Triggers every ``every_secs`` seconds or every ``every_steps`` steps (exactly one)."""

    def __init__(self, every_secs: float | None = None, every_steps: int | None = None) -> None:
        if (every_secs is None) == (every_steps is None):
            raise ValueError(message("Exactly one of every_secs and every_steps must be set",
                                     every_secs=every_secs, every_steps=every_steps))
        if every_secs is not None and every_secs < 0 or every_steps is not None and every_steps <= 0:
            raise ValueError(message("The timer period must be positive", every_secs=every_secs,
                                     every_steps=every_steps))
        self._every_secs = every_secs
        self._every_steps = every_steps
        self._last_step: int | None = None
        self._last_time: float | None = None

    def reset(self) -> None:
        self._last_step = self._last_time = None

    def should_trigger_for_step(self, step: int) -> bool:
        if self._last_step is None:
            return True
        if self._last_step == step:
            return False
        if self._every_secs is not None:
            return time.monotonic() >= self._last_time + self._every_secs
        return step >= self._last_step + self._every_steps

    def next_trigger(self, step: int) -> tuple[float, float]:
        """``(first_step, time)``: ``should_trigger_for_step(s)`` is False for every ``s`` from
        ``step`` below ``first_step`` while ``time.monotonic()`` is below ``time``.

        Subclasses that change ``should_trigger_for_step`` must keep this a safe bound.
        """
        if self._last_step is None:
            return -math.inf, -math.inf
        if self._every_secs is not None:
            return math.inf, self._last_time + self._every_secs
        return max(step, self._last_step + self._every_steps), math.inf

    def update_last_triggered_step(self, step: int) -> tuple[float | None, int | None]:
        now = time.monotonic()
        elapsed = (None, None) if self._last_time is None else (now - self._last_time, step - self._last_step)
        self._last_step, self._last_time = step, now
        return elapsed

    def last_triggered_step(self) -> int | None:
        return self._last_step


class CheckpointSaverListener:
    """Called around checkpoint saves (TensorFlow's interface); ``after_save`` returning True stops."""

    def begin(self) -> None:
        pass

    def before_save(self, session: Any, global_step_value: int) -> None:
        pass

    def after_save(self, session: Any, global_step_value: int) -> bool | None:
        pass

    def end(self, session: Any, global_step_value: int) -> None:
        pass
