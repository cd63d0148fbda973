"""The training loop: one function, readable top to bottom.

Per step: read a batch, call ``model_fn`` (forward and loss, eagerly), let hooks see the step,
run the update (``train_op``: backward, clipping, AMP scaling, optimizer step), count the step,
hand the step's values to the hooks. Checkpoints, summaries, logging and NaN checks are hooks
(built by the Estimator), so this function stays the whole story of a step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from torch_estimator.loops.hook_runner import HookRunner, StepOutputs
from torch_estimator.mode_keys import ModeKeys
from torch_estimator.modules import ModelFnContext, check_graph_parameters, model_fn_scope, watch_parameter_creation
from torch_estimator.spec import EstimatorSpec
from torch_estimator.state import TrainState


def train_loop(
    state: TrainState,
    batches: Iterator[tuple[Any, Any]],
    model_fn: Callable[[Any, Any, str], EstimatorSpec],
    hooks: Iterable[Any],
    *,
    device: torch.device,
    last_step: int | None,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    chief_hooks: bool = True,
) -> int:
    """Trains until ``last_step``, the end of ``batches``, or a hook's stop request.

    Args:
        state: Modules, optimizers and global step; updated in place.
        batches: ``(features, labels)`` tensor pairs.
        model_fn: Called as ``model_fn(features, labels, ModeKeys.TRAIN)``.
        hooks: Session-run hooks (the Estimator's defaults and the user's).
        device: Where ``est.get_module`` puts new modules.
        last_step: Absolute global step to stop at (None: until the input ends).
        autocast: Context manager for the forward pass (mixed precision).
        chief_hooks: Whether to run the spec's ``training_chief_hooks`` (this process is chief).

    Returns:
        The number of steps run.
    """
    state.registry.train()
    context = ModelFnContext(state.registry, ModeKeys.TRAIN, device, optimizers=state.optimizers,
                             scaler=state.scaler, on_optimizer_created=state.optimizer_created)
    runner = HookRunner(hooks, session=state)
    runner.begin()
    steps = 0
    with watch_parameter_creation():
        while last_step is None or state.global_step < last_step:
            try:
                features, labels = next(batches)
            except StopIteration:
                state.input_exhausted()
                break
            if steps:
                context.summaries = [] if runner.before_run() else None
            else:
                context.summaries = []  # the first step always records (TF writes summaries at step 0 too)
            context.global_step = state.global_step
            if not state.registry.training:  # a hook evaluated in between (InMemoryEvaluatorHook)
                state.registry.train()
            with model_fn_scope(context), autocast():
                spec = model_fn(features, labels, ModeKeys.TRAIN)
            if not steps:
                # The first call built the modules: the "session" now exists (TF's graph was
                # built before its session, too). Hooks may now save or inspect the weights.
                check_graph_parameters(spec.loss, state.registry)
                runner.create_session(spec.training_hooks + (spec.training_chief_hooks if chief_hooks else ()))
                runner.before_run()
            with model_fn_scope(context):
                spec.train_op()
            state.global_step += 1
            steps += 1
            runner.after_run(StepOutputs(spec.predictions, spec.loss, state.global_step, context.summaries))
            if runner.stop_requested:
                break
    if steps:
        runner.end()
    return steps
