"""TensorFlow's standard hooks, for eager runs (see ``session_run_hook`` for the lifecycle)."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from torch_estimator.checkpoint.manager import CheckpointManager, checkpoint_step
from torch_estimator.errors import NanLossDuringTrainingError, message
from torch_estimator.hooks.session_run_hook import (
    CheckpointSaverListener,
    SecondOrStepTimer,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)
from torch_estimator.summary.writer import SummarySink

logger = logging.getLogger("torch_estimator")

# Requests are immutable: reuse them instead of building new ones every step.
_GLOBAL_STEP = SessionRunArgs("global_step")
_SUMMARY_FETCHES = SessionRunArgs({"loss": "loss", "step": "global_step", "summaries": "summaries"})


def _exactly_one(every_secs: Any, every_steps: Any, first: str, second: str) -> None:
    if (every_secs is None) == (every_steps is None):
        raise ValueError(message(f"Exactly one of {first} and {second} must be provided",
                                 fix=f"Pass {first}=... or {second}=...", **{first: every_secs, second: every_steps}))


class LoggingTensorHook(SessionRunHook):
    """Logs fetched values every N steps or seconds, and optionally at the end.

    Args:
        tensors: A dict ``{tag: fetch name}`` or a list of fetch names (``'loss'``,
            ``'global_step'``, predictions keys).
        every_n_iter: Log every this many steps.
        every_n_secs: Log every this many seconds.
        at_end: Also log the last values in ``end``.
        formatter: ``dict -> str``; default ``"tag = value, ..."``.
    """

    def __init__(self, tensors: Mapping[str, str] | Sequence[str], every_n_iter: int | None = None,
                 every_n_secs: float | None = None, at_end: bool = False,
                 formatter: Callable[[dict], str] | None = None) -> None:
        if not at_end or (every_n_iter is not None and every_n_secs is not None):
            _exactly_one(every_n_iter, every_n_secs, "every_n_iter", "every_n_secs")
        self._tensors = dict(tensors) if isinstance(tensors, Mapping) else {name: name for name in tensors}
        periodic = every_n_iter is not None or every_n_secs is not None  # 0 is invalid, not "never"
        self._timer = SecondOrStepTimer(every_n_secs, every_n_iter) if periodic else None
        self._at_end = at_end
        self._formatter = formatter
        self._iter = 0
        self._last: dict | None = None

    def begin(self) -> None:
        self._iter = 0
        if self._timer:
            self._timer.reset()

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        self._should_log = self._timer is not None and self._timer.should_trigger_for_step(self._iter)
        return SessionRunArgs(self._tensors) if self._should_log or self._at_end else None

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        if run_values.results is not None:
            self._last = run_values.results
        if self._should_log:
            elapsed, _ = self._timer.update_last_triggered_step(self._iter)
            self._log(run_values.results, elapsed)
        self._iter += 1

    def end(self, session: Any) -> None:
        if self._at_end and self._last is not None:
            self._log(self._last, None)

    def _log(self, values: dict, elapsed: float | None) -> None:
        if self._formatter:
            logger.info(self._formatter(values))
            return
        text = ", ".join(f"{tag} = {value}" for tag, value in values.items())
        logger.info("%s (%.3f sec)", text, elapsed) if elapsed is not None else logger.info("%s", text)


class StopAtStepHook(SessionRunHook):
    """Requests a stop after ``num_steps`` more steps, or at global step ``last_step``."""

    def __init__(self, num_steps: int | None = None, last_step: int | None = None) -> None:
        _exactly_one(num_steps, last_step, "num_steps", "last_step")
        self._num_steps, self._last_step = num_steps, last_step

    def after_create_session(self, session: Any, coord: Any) -> None:
        if self._num_steps is not None:
            self._last_step = session.global_step + self._num_steps

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return _GLOBAL_STEP

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        if run_values.results >= self._last_step:
            run_context.request_stop()


class NanTensorHook(SessionRunHook):
    """Raises ``NanLossDuringTrainingError`` (or only stops) when the loss is NaN or infinite."""

    def __init__(self, loss_tensor: str = "loss", fail_on_nan_loss: bool = True) -> None:
        self._request = SessionRunArgs(loss_tensor)
        self._fail = fail_on_nan_loss

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return self._request

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        loss = run_values.results
        if math.isfinite(loss):
            return
        text = diverged_message(loss, run_context.session.global_step)
        if self._fail:
            raise NanLossDuringTrainingError(text)
        logger.error(text)
        run_context.request_stop()


def diverged_message(loss: float, step: int) -> str:
    """The error for a NaN or infinite training loss (``NanLossDuringTrainingError``'s text)."""
    return message(f"Model diverged with loss = {loss} at step {step}", expected="a finite loss",
                   fix="Lower the learning rate, clip gradients (minimize(clip_norm=...)), or check the "
                       "input for NaN/inf", loss=loss, global_step=step)


class StepCounterHook(SessionRunHook):
    """Writes the ``global_step/sec`` summary (and logs it) every N steps or seconds."""

    def __init__(self, every_n_steps: int | None = 100, every_n_secs: float | None = None,
                 output_dir: str | None = None, summary_writer: SummarySink | None = None,
                 log: bool = True) -> None:
        if every_n_secs is not None:
            every_n_steps = None
        _exactly_one(every_n_steps, every_n_secs, "every_n_steps", "every_n_secs")
        self._timer = SecondOrStepTimer(every_n_secs, every_n_steps)
        self._sink = summary_writer or (SummarySink(output_dir) if output_dir else None)
        self._log = log

    def begin(self) -> None:
        self._timer.reset()

    def _wake_at(self, global_step: int) -> tuple[float, float]:
        step, seconds = self._timer.next_trigger(global_step + 1)
        return step - 1, seconds  # after_run sees the step count after the step

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        # The step is read from the session rather than fetched: no per-step fetch to resolve.
        step = run_context.session.global_step
        if not self._timer.should_trigger_for_step(step):
            return
        elapsed_secs, elapsed_steps = self._timer.update_last_triggered_step(step)
        if elapsed_secs:
            rate = elapsed_steps / elapsed_secs
            if self._sink is not None:
                self._sink.scalar("global_step/sec", rate, step)
            if self._log:
                logger.info("global_step/sec: %g", rate)

    def end(self, session: Any) -> None:
        if self._sink is not None:  # the writer queues events on a background thread
            self._sink.flush()


class SummarySaverHook(SessionRunHook):
    """Writes ``loss`` and the ``est.summary`` values recorded in ``model_fn``, every N steps/secs.

    On the steps it writes, it fetches ``'summaries'``, which makes the loop record the
    ``est.summary`` calls of that step's ``model_fn`` (they cost nothing on other steps).
    """

    def __init__(self, save_steps: int | None = None, save_secs: float | None = None,
                 output_dir: str | None = None, summary_writer: SummarySink | None = None) -> None:
        _exactly_one(save_steps, save_secs, "save_steps", "save_secs")
        if output_dir is None and summary_writer is None:
            raise ValueError(message("SummarySaverHook needs output_dir or summary_writer",
                                     fix="Pass output_dir=model_dir", output_dir=None))
        self._timer = SecondOrStepTimer(save_secs, save_steps)
        self._sink = summary_writer or SummarySink(output_dir)

    def begin(self) -> None:
        self._timer.reset()

    def _wake_at(self, global_step: int) -> tuple[float, float]:
        return self._timer.next_trigger(global_step)

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        if not self._timer.should_trigger_for_step(run_context.session.global_step):
            return None
        return _SUMMARY_FETCHES

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        values = run_values.results
        if values is None:
            return
        step = values["step"]
        self._timer.update_last_triggered_step(step - 1)  # triggered by the step that started there
        records = values["summaries"] or []
        if not any(tag == "loss" for _, tag, _ in records):
            self._sink.scalar("loss", values["loss"], step)
        self._sink.write(records, step)

    def end(self, session: Any) -> None:
        self._sink.flush()


class CheckpointSaverHook(SessionRunHook):
    """Saves checkpoints at the start, every N steps or seconds, and at the end.

    Args:
        checkpoint_dir: Directory for ``model.ckpt-<step>`` checkpoints and the index.
        save_secs: Save every this many seconds.
        save_steps: Save every this many steps.
        saver: A :class:`CheckpointManager` (retention rules); default one for ``checkpoint_dir``.
        checkpoint_basename: Checkpoint name prefix.
        listeners: ``CheckpointSaverListener``s called around each save; ``after_save``
            returning True stops training.
        timer: Replaces the ``SecondOrStepTimer(save_secs, save_steps)`` (several processes
            use one that triggers on every rank at the same steps).
    """

    def __init__(self, checkpoint_dir: str, save_secs: float | None = None, save_steps: int | None = None,
                 saver: CheckpointManager | None = None, checkpoint_basename: str = "model.ckpt",
                 listeners: Iterable[CheckpointSaverListener] | None = None,
                 timer: SecondOrStepTimer | None = None) -> None:
        _exactly_one(save_secs, save_steps, "save_secs", "save_steps")
        self._timer = timer or SecondOrStepTimer(save_secs, save_steps)
        self._manager = saver or CheckpointManager(checkpoint_dir, basename=checkpoint_basename)
        self.listeners = list(listeners or [])
        self._state: Any = None

    def begin(self) -> None:
        self._timer.reset()
        for listener in self.listeners:
            listener.begin()

    def after_create_session(self, session: Any, coord: Any) -> None:
        self._state = session
        latest = self._manager.latest()
        if latest is None or checkpoint_step(latest) != session.global_step:
            self._save(session, run_context=None)  # the starting point is recoverable (TF's behaviour)
        self._timer.update_last_triggered_step(session.global_step)

    def _wake_at(self, global_step: int) -> tuple[float, float]:
        step, seconds = self._timer.next_trigger(global_step + 1)
        return step - 1, seconds  # after_run sees the step count after the step

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        step = run_context.session.global_step  # read, not fetched: nothing to resolve per step
        if self._timer.should_trigger_for_step(step):
            self._timer.update_last_triggered_step(step)
            self._save(self._state, run_context)

    def end(self, session: Any) -> None:
        step = session.global_step
        if step != self._timer.last_triggered_step():
            self._save(session, run_context=None)
        for listener in self.listeners:
            listener.end(session, step)

    def _save(self, session: Any, run_context: SessionRunContext | None) -> None:
        step = session.global_step
        for listener in self.listeners:
            listener.before_save(session, step)
        started = time.monotonic()
        path = self._manager.save(session.checkpoint_state(), step)
        if path is not None:
            # The files now hold what is in memory, RNG included.
            session.checkpoint_path = session.restore_from = session.rng_checkpoint = path
            logger.info("Saving checkpoints for %d into %s (%.2f s).", step, path, time.monotonic() - started)
        stop = False
        for listener in self.listeners:
            stop = bool(listener.after_save(session, step)) or stop
        if stop and run_context is not None:
            logger.info("A CheckpointSaverListener requested that training be stopped.")
            run_context.request_stop()


class ProfilerHook(SessionRunHook):
    """Records one step every N steps or seconds with ``torch.profiler``.

    Writes a Chrome trace ``timeline-<step>.json`` into ``output_dir`` (open it in
    ``chrome://tracing`` or Perfetto). ``show_dataflow`` records tensor shapes,
    ``show_memory`` allocations. As in TensorFlow, the first step is not recorded: the first
    profiled step is ``save_steps`` after the start.
    """

    def __init__(self, save_steps: int | None = None, save_secs: float | None = None, output_dir: str = "",
                 show_dataflow: bool = True, show_memory: bool = False) -> None:
        _exactly_one(save_steps, save_secs, "save_steps", "save_secs")
        self._timer = SecondOrStepTimer(save_secs, save_steps)
        self._output_dir = output_dir
        self._show_dataflow, self._show_memory = show_dataflow, show_memory
        self._profiler: Any = None
        self._step = 0

    def after_create_session(self, session: Any, coord: Any) -> None:
        self._step = session.global_step
        # The first step's before_run comes after its model_fn call (it builds the modules), so a
        # trace of it would miss the forward pass; it is also dominated by one-time setup.
        self._timer.update_last_triggered_step(session.global_step)

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        if self._timer.should_trigger_for_step(self._step + 1):
            import torch.profiler

            activities = [torch.profiler.ProfilerActivity.CPU]
            if torch.cuda.is_available():
                activities.append(torch.profiler.ProfilerActivity.CUDA)
            self._profiler = torch.profiler.profile(activities=activities, record_shapes=self._show_dataflow,
                                                    profile_memory=self._show_memory)
            self._profiler.__enter__()
        return SessionRunArgs("global_step")

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        self._step = run_values.results
        if self._profiler is not None:
            self._profiler.__exit__(None, None, None)
            self._timer.update_last_triggered_step(self._step)
            os.makedirs(self._output_dir or ".", exist_ok=True)
            self._profiler.export_chrome_trace(os.path.join(self._output_dir, f"timeline-{self._step}.json"))
            self._profiler = None


class FinalOpsHook(SessionRunHook):
    """Keeps the values of ``final_ops`` (fetch names) from the last step: ``.final_ops_values``."""

    def __init__(self, final_ops: Any, final_ops_feed_dict: Any = None) -> None:
        self._final_ops = final_ops
        self.final_ops_values: Any = None

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs(self._final_ops)

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        self.final_ops_values = run_values.results
