"""The prediction loop: a generator of numpy predictions, per example or per batch."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from torch_estimator.errors import message
from torch_estimator.loops.hook_runner import HookRunner, StepOutputs
from torch_estimator.mode_keys import ModeKeys
from torch_estimator.modules import ModelFnContext, model_fn_scope, watch_parameter_creation
from torch_estimator.spec import EstimatorSpec
from torch_estimator.state import TrainState


def predict_loop(
    state: TrainState,
    batches: Iterator[tuple[Any, Any]],
    model_fn: Callable[[Any, Any, str], EstimatorSpec],
    hooks: Iterable[Any],
    *,
    device: torch.device,
    predict_keys: Sequence[str] | None,
    yield_single_examples: bool,
    before_batch: Callable[[], None] = lambda: None,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> Iterator[Any]:
    """Yields predictions as numpy arrays (dicts of arrays for dict predictions).

    ``before_batch`` runs before each batch (the Estimator uses it to make sure the resident
    weights are the ones this generator was asked for, so generators can be interleaved).
    """
    context = ModelFnContext(state.registry, ModeKeys.PREDICT, device, global_step=state.global_step,
                             optimizers=state.optimizers)
    runner = HookRunner(hooks, session=state)
    runner.begin()
    first = True
    for features, _ in batches:
        before_batch()
        if state.registry.training:
            state.registry.eval()
        if not first:
            context.summaries = [] if runner.before_run() else None
        with torch.no_grad(), watch_parameter_creation(), model_fn_scope(context), autocast():
            spec = model_fn(features, None, ModeKeys.PREDICT)
        if first:
            runner.create_session(spec.prediction_hooks)
            runner.before_run()
            first = False
        predictions = _select(spec.predictions, predict_keys)
        runner.after_run(StepOutputs(spec.predictions, None, state.global_step, context.summaries))
        if yield_single_examples:
            yield from _examples(predictions)
        else:
            yield predictions
        if runner.stop_requested:
            break
    if not first:
        runner.end()


def _to_numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _select(predictions: Any, keys: Sequence[str] | None) -> Any:
    if not isinstance(predictions, Mapping):
        if keys is not None:
            raise ValueError(message("predict_keys needs dict predictions",
                                     expected="model_fn returning predictions={'name': tensor, ...}",
                                     fix="Drop predict_keys, or return dict predictions",
                                     predict_keys=list(keys)))
        return _to_numpy(predictions)
    if keys is None:
        return {name: _to_numpy(value) for name, value in predictions.items()}
    selected = {name: _to_numpy(value) for name, value in predictions.items() if name in keys}
    if not selected:
        raise ValueError(message("predict_keys selects none of the predictions",
                                 expected=f"some of {list(predictions)}", fix="Fix predict_keys",
                                 predict_keys=list(keys)))
    return selected


def _examples(predictions: Any) -> Iterator[Any]:
    if not isinstance(predictions, dict):
        yield from predictions
        return
    sizes = {name: (value.shape[0] if value.ndim else None) for name, value in predictions.items()}
    distinct = set(sizes.values())
    if len(distinct) != 1 or None in distinct:
        raise ValueError(message("Batch length of predictions should be same to split them into examples",
                                 expected="every prediction with the same first dimension",
                                 fix="Use yield_single_examples=False, or return same-length predictions",
                                 batch_lengths=sizes))
    names = list(predictions)
    columns = [predictions[name] for name in names]
    for row in zip(*columns):
        yield dict(zip(names, row))
