"""The evaluation loop: stream batches through ``model_fn`` in EVAL mode and reduce metrics.

Two losses are reported (both with TensorFlow's names):

* ``loss``: the mean of the per-batch losses (TensorFlow's definition for ``evaluate``);
* ``average_loss``: the per-batch losses weighted by batch size, i.e. the mean over examples
  when ``model_fn``'s loss is a per-example mean. It differs from ``loss`` only when the last
  batch is smaller. A metric of the same name from ``eval_metric_ops`` (canned heads define
  one) takes precedence.

Under data parallelism each rank evaluates its own share of the input (its ``input_context``
shard) and the results cover every rank's batches exactly: losses and counts are summed over
the ranks, metric accumulators are all-reduced by ``compute_value``. Nothing is padded, so no
example is counted twice, whatever the eval set's size.

Under FSDP (``replication.sharded``) a module's forward pass is a collective, so every rank
steps until the longest shard ends: a rank whose input ended runs ``model_fn`` on a stand-in
batch (its last one, or one lent by another rank when it had none) and discards the result.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from torch_estimator.errors import message
from torch_estimator.inputs.structure import batch_size_of
from torch_estimator.loops.hook_runner import HookRunner, StepOutputs
from torch_estimator.metrics import compute_value
from torch_estimator.mode_keys import ModeKeys
from torch_estimator.modules import ModelFnContext, model_fn_scope, watch_parameter_creation
from torch_estimator.spec import EstimatorSpec
from torch_estimator.state import TrainState


def evaluate_loop(
    state: TrainState,
    batches: Iterator[tuple[Any, Any]],
    model_fn: Callable[[Any, Any, str], EstimatorSpec],
    hooks: Iterable[Any],
    *,
    device: torch.device,
    steps: int | None,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    replication: Any = None,
) -> dict[str, Any]:
    """Evaluates ``steps`` batches (all when None); returns plain Python numbers.

    ``replication`` (several processes): ``steps`` counts batches per rank, and the results
    cover the batches of every rank.

    Returns:
        ``{"loss", "average_loss", <metrics>..., "global_step"}``.

    Raises:
        ValueError: if the input yields no batch.
    """
    state.registry.eval()
    context = ModelFnContext(state.registry, ModeKeys.EVAL, device, global_step=state.global_step,
                             optimizers=state.optimizers)
    runner = HookRunner(hooks, session=state)
    runner.begin()
    accumulators: dict[str, Any] = {}
    loss_sum = weighted_sum = torch.zeros((), dtype=torch.float64, device=device)
    batches_seen = examples = 0
    lockstep = _Lockstep(batches, replication, steps) if replication is not None and replication.sharded else None
    with torch.no_grad(), watch_parameter_creation():
        for features, labels, real in lockstep or ((*batch, True) for batch in batches):
            if not real:  # only this forward's collectives are needed: its results are discarded
                with model_fn_scope(context), autocast():
                    model_fn(features, labels, ModeKeys.EVAL)
                continue
            if steps is not None and batches_seen >= steps:
                break
            if batches_seen:
                context.summaries = [] if runner.before_run() else None
            with model_fn_scope(context), autocast():
                spec = model_fn(features, labels, ModeKeys.EVAL)
            if not batches_seen:
                runner.create_session(spec.evaluation_hooks)
                runner.before_run()
            size = batch_size_of(features) or 1
            loss = spec.loss.detach().to(torch.float64)
            loss_sum = loss_sum + loss
            weighted_sum = weighted_sum + loss * size
            batches_seen += 1
            examples += size
            for name, op in spec.eval_metric_ops.items():
                metric = accumulators.get(name)
                if metric is None:
                    metric = accumulators[name] = op.create().to(device)
                op.update(metric)
            runner.after_run(StepOutputs(spec.predictions, spec.loss, state.global_step, context.summaries))
            if runner.stop_requested:
                if lockstep is None:
                    break
                lockstep.stop()  # the other ranks still need this one in their forward passes
    totals = [float(loss_sum), float(weighted_sum), batches_seen, examples]
    if replication is not None:
        totals, accumulators = _over_all_ranks(replication, totals, accumulators)
    loss_total, weighted_total, batches_total, examples_total = totals
    if not batches_total:
        raise ValueError(message("Evaluation got no batch from input_fn", expected="at least one batch",
                                 fix="Check that eval input_fn yields data (steps=None reads it to the end)",
                                 steps=steps))
    if batches_seen:
        runner.end()
    results: dict[str, Any] = {"loss": loss_total / batches_total, "average_loss": weighted_total / examples_total}
    results.update({name: compute_value(metric) for name, metric in accumulators.items()})
    results["global_step"] = state.global_step
    return results


def _over_all_ranks(replication: Any, totals: list[float], accumulators: dict[str, Any]) -> tuple[list[float], dict]:
    """Sums the loss totals over the ranks; a rank that got no batch (a small eval set) joins the
    metric all-reduce with empty accumulators copied from the first rank that has them."""
    counts = replication.gather(int(totals[2]))
    totals = replication.sum(totals)
    if all(counts) or not any(counts):
        return totals, accumulators
    source = next(rank for rank, count in enumerate(counts) if count)
    empty = None
    if replication.rank == source:
        empty = {name: metric.clone() for name, metric in accumulators.items()}
        for metric in empty.values():
            metric.reset()
    empty = replication.broadcast(empty, source)
    return totals, accumulators if counts[replication.rank] else empty


class _Lockstep:
    """Batches of one rank, as ``(features, labels, real)``, until every rank's input ended.

    Each step asks the ranks (one tiny all-reduce) whether any still has a batch. A rank without
    one gets ``real=False`` with a stand-in batch: its previous one, or, for a rank that had no
    batch at all, the first batch of the first rank that had one (sent once).
    """

    def __init__(self, batches: Iterable[tuple[Any, Any]], replication: Any, steps: int | None) -> None:
        self._source = iter(batches if steps is None else itertools.islice(batches, steps))
        self._replication = replication
        self._stopped = False

    def stop(self) -> None:
        """This rank takes no more real batches (a hook asked to stop); it keeps stepping."""
        self._stopped = True

    def __iter__(self) -> Iterator[tuple[Any, Any, bool]]:
        replication = self._replication
        batch = self._next()
        have = replication.gather(batch is not None)
        if not any(have):
            return
        stand_in = batch
        if not all(have):
            lender = have.index(True)
            lent = replication.broadcast(batch if replication.rank == lender else None, lender)
            stand_in = batch if batch is not None else lent
        while True:
            yield (*(batch if batch is not None else stand_in), batch is not None)
            stand_in = batch if batch is not None else stand_in
            batch = self._next()
            if not replication.any(batch is not None):
                return

    def _next(self) -> tuple[Any, Any] | None:
        return None if self._stopped else next(self._source, None)
