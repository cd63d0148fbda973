"""``ProgressHook``: training is visible by default (TensorFlow's Estimator was silent).

On a terminal it draws a tqdm bar with the step, loss and steps/sec; when output is redirected
(CI logs, ``nohup``) it logs one plain line every ``every_n_steps`` instead, so logs stay
readable. ``est.logging.set_verbosity(est.logging.WARN)`` silences the lines,
``RunConfig(progress_bar=False)`` forces lines.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from torch_estimator.hooks.session_run_hook import SessionRunArgs, SessionRunContext, SessionRunHook, SessionRunValues

logger = logging.getLogger("torch_estimator")
_LOSS = SessionRunArgs("loss")


class ProgressHook(SessionRunHook):
    """Shows step, loss and steps/sec every ``every_n_steps`` steps; logs the final loss.

    Args:
        every_n_steps: Update period (``RunConfig.log_step_count_steps``).
        last_step: The step training will stop at, when known (gives the bar a total and ETA).
        use_bar: tqdm bar when True, log lines when False.
    """

    def __init__(self, every_n_steps: int = 100, last_step: int | None = None, use_bar: bool = False) -> None:
        self._every = every_n_steps
        self._last_step = last_step
        self._use_bar = use_bar
        self._bar: Any = None
        self._loss: float | None = None

    def after_create_session(self, session: Any, coord: Any) -> None:
        self._start_step = self._mark_step = session.global_step
        self._mark_time = time.monotonic()
        if self._use_bar:
            from tqdm.auto import tqdm

            total = None if self._last_step is None else self._last_step
            self._bar = tqdm(total=total, initial=session.global_step, unit="step", dynamic_ncols=True,
                             mininterval=0.2, desc="train")

    def _wake_at(self, global_step: int) -> tuple[float, float]:
        if self._bar is not None:
            return global_step, math.inf  # the bar moves every step
        return (global_step // self._every + 1) * self._every - 1, math.inf  # after_run logs at multiples

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return _LOSS

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        self._loss, step = run_values.results, run_context.session.global_step
        if self._bar is not None:
            self._bar.update(1)
        if step % self._every == 0:
            now = time.monotonic()
            rate = (step - self._mark_step) / max(now - self._mark_time, 1e-9)
            self._mark_step, self._mark_time = step, now
            if self._bar is not None:
                self._bar.set_postfix(loss=f"{self._loss:.4g}", refresh=False)
            else:
                logger.info("step = %d, loss = %.6g (%.1f steps/sec)", step, self._loss, rate)

    def end(self, session: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        last_loss = getattr(session, "last_loss", None)  # the loop's last step (this hook may have slept)
        loss = float(last_loss) if last_loss is not None else self._loss
        if loss is not None:
            logger.info("Loss for final step: %.6g.", loss)
