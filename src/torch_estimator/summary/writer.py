"""``SummarySink``: TensorBoard event files for one directory, written by the chief only.

Built on ``torch.utils.tensorboard.SummaryWriter``; ``tensorboard --logdir model_dir`` shows the
training curves (``model_dir``) and each evaluation (``model_dir/eval``, ``model_dir/eval_<name>``)
as separate runs, as with TensorFlow's Estimator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class SummarySink:
    """Lazily opens one event file writer; does nothing on non-chief processes."""

    def __init__(self, logdir: str, is_chief: bool = True) -> None:
        self.logdir = logdir
        self.is_chief = is_chief
        self._writer: Any = None

    @property
    def writer(self) -> Any:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=self.logdir, flush_secs=30)
        return self._writer

    def scalar(self, tag: str, value: Any, step: int) -> None:
        if self.is_chief:
            self.writer.add_scalar(tag, float(value), global_step=step)

    def histogram(self, tag: str, values: Any, step: int) -> None:
        if self.is_chief:
            if isinstance(values, torch.Tensor):
                values = values.detach().float().cpu().numpy()
            self.writer.add_histogram(tag, np.asarray(values), global_step=step)

    def text(self, tag: str, text: str, step: int) -> None:
        if self.is_chief:
            self.writer.add_text(tag, text, global_step=step)

    def write(self, records: list[tuple[str, str, Any]], step: int) -> None:
        """Writes ``(kind, tag, value)`` records collected by ``est.summary`` calls."""
        writers = {"scalar": self.scalar, "histogram": self.histogram, "text": self.text}
        for kind, tag, value in records:
            writers[kind](tag, value, step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
