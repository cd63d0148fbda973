"""``CheckpointEvaluator``: one evaluation of one checkpoint, then the exporters.

Every evaluation schedule shares this unit: the local ``train_and_evaluate`` calls it after
checkpoint saves, every N steps and at the end of training; a separate evaluator process (the
distributed issue) calls it on each new checkpoint it finds, and stops after the one it
reports as final::

    evaluator = CheckpointEvaluator(estimator, eval_spec, train_spec.max_steps)
    while True:
        path = estimator.latest_checkpoint()
        if path is not None and not evaluator.has_evaluated(path):
            if evaluator.evaluate(path).is_final:
                break
        time.sleep(...)  # the rest of throttle_secs

The bookkeeping that early stopping and ``BestExporter`` rely on is a by-product:
``Estimator.evaluate`` appends every result to ``eval_dir/eval_results.jsonl`` (read by the
early-stopping hooks, in any process, after any restart), and exporters keep their own state
beside their exports.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

from torch_estimator.checkpoint.manager import checkpoint_step

logger = logging.getLogger("torch_estimator")


@dataclasses.dataclass(frozen=True)
class EvalOutcome:
    """What one evaluation produced.

    Attributes:
        metrics: ``Estimator.evaluate``'s results (plain numbers, ``global_step`` included).
        export_results: One entry per exporter: the export directory, or None if it did not export.
        checkpoint_path: The evaluated checkpoint; None when the weights in memory were
            evaluated without a checkpoint at their step.
        is_final: Whether exporters were told ``is_the_final_export=True``.
    """

    metrics: dict[str, Any]
    export_results: list[Any]
    checkpoint_path: str | None
    is_final: bool

    @property
    def global_step(self) -> int:
        return self.metrics["global_step"]


class CheckpointEvaluator:
    """Evaluates a checkpoint with an ``EvalSpec`` and runs its exporters.

    An evaluation is final when its global step reaches ``max_steps`` (TensorFlow's rule; never
    with ``max_steps=None``), or when the caller knows it is the last one
    (:meth:`evaluate_final`).

    Args:
        estimator: The Estimator to evaluate (and export with).
        eval_spec: Input, steps, name, hooks and exporters of each evaluation.
        max_steps: ``TrainSpec.max_steps``.

    Example:
        >>> import tempfile, torch, torch_estimator as est
        >>> from torch_estimator.training import CheckpointEvaluator, EvalSpec
        >>> def model_fn(features, labels, mode):
        ...     net = est.get_module("net", lambda: torch.nn.Linear(1, 1))
        ...     loss = torch.nn.functional.mse_loss(net(features), labels)
        ...     return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))
        >>> data = lambda: (torch.ones(4, 1), torch.zeros(4, 1))
        >>> estimator = est.Estimator(model_fn, tempfile.mkdtemp(), est.RunConfig(progress_bar=False))
        >>> _ = estimator.train(data, max_steps=3)
        >>> evaluator = CheckpointEvaluator(estimator, EvalSpec(data, steps=1), max_steps=3)
        >>> outcome = evaluator.evaluate(estimator.latest_checkpoint())
        >>> outcome.global_step, outcome.is_final, evaluator.has_evaluated(estimator.latest_checkpoint())
        (3, True, True)
    """

    def __init__(self, estimator: Any, eval_spec: Any, max_steps: int | None) -> None:
        self._estimator = estimator
        self._spec = eval_spec
        self._max_steps = max_steps
        self._last: EvalOutcome | None = None

    @property
    def last(self) -> EvalOutcome | None:
        """The latest evaluation made by this object."""
        return self._last

    def has_evaluated(self, checkpoint_path: str) -> bool:
        """Whether the latest evaluation was of ``checkpoint_path``'s global step."""
        return self._last is not None and checkpoint_step(checkpoint_path) == self._last.global_step

    def evaluate(self, checkpoint_path: str | None, *, is_final: bool | None = None) -> EvalOutcome:
        """Evaluates ``checkpoint_path`` (None: the weights in memory), then runs the exporters.

        Args:
            checkpoint_path: The checkpoint to evaluate and export.
            is_final: Overrides the ``max_steps`` rule for ``is_the_final_export``.
        """
        spec = self._spec
        metrics = self._estimator.evaluate(spec.input_fn, steps=spec.steps, hooks=list(spec.hooks),
                                           checkpoint_path=checkpoint_path, name=spec.name)
        if is_final is None:
            is_final = self._max_steps is not None and metrics["global_step"] >= self._max_steps
        exports = self._export(metrics, checkpoint_path, is_final)
        self._last = EvalOutcome(metrics, exports, checkpoint_path, is_final)
        return self._last

    def evaluate_final(self, checkpoint_path: str | None, global_step: int) -> EvalOutcome:
        """The last evaluation of a run, at ``global_step``: evaluates and exports as final.

        When that step was just evaluated (early stopping usually stops right after the
        evaluation that triggered it), it is not evaluated again; the exporters that did not
        export it then are asked again with ``is_the_final_export=True`` (a ``FinalExporter``
        exports, a ``LatestExporter`` that already did is not asked twice).
        """
        last = self._last
        if last is None or last.global_step != global_step:
            return self.evaluate(checkpoint_path, is_final=True)
        if last.is_final:
            return last
        path = last.checkpoint_path or checkpoint_path
        again = [exporter for exporter, result in zip(self._spec.exporters, last.export_results) if result is None]
        retried = iter(self._export(last.metrics, path, True, again))
        exports = [result if result is not None else next(retried) for result in last.export_results]
        self._last = EvalOutcome(last.metrics, exports, path, True)
        return self._last

    def _export(self, metrics: dict[str, Any], checkpoint_path: str | None, is_final: bool,
                exporters: Any = None) -> list[Any]:
        exporters = list(self._spec.exporters if exporters is None else exporters)
        if not exporters:
            return []
        if checkpoint_path is None:
            logger.warning("Not exporting after the evaluation at step %d: no checkpoint holds the evaluated "
                           "weights (training ran no step and model_dir has no checkpoint).", metrics["global_step"])
            return [None] * len(exporters)
        base = os.path.join(self._estimator.model_dir, "export")
        return [exporter.export(estimator=self._estimator, export_path=os.path.join(base, exporter.name),
                                checkpoint_path=checkpoint_path, eval_result=metrics,
                                is_the_final_export=is_final)
                for exporter in exporters]
