"""The training loop, readable top to bottom.

Per step: read a batch, let the hooks see the step coming, call ``model_fn`` (forward and loss,
eagerly), run the update (``train_op``: backward, clipping, AMP scaling, optimizer step), count
the step, check the loss is finite, hand the step's values to the hooks. Checkpoints,
summaries and logging are hooks (built by the Estimator), so this module stays the whole story
of a step.

The first step is special: it builds the modules, after which the "session" exists and the
hooks' ``after_create_session`` runs (TensorFlow built its graph before its session too). Every
later step is the lean loop below it: each Python operation between two steps costs several
times what it costs in isolation (the kernels in between evict the interpreter's working set
from the CPU caches), so the steady-state step does only what a step needs.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from torch_estimator.errors import NanLossDuringTrainingError
from torch_estimator.hooks.basic_hooks import diverged_message
from torch_estimator.loops.hook_runner import HookRunner, StepOutputs
from torch_estimator.mode_keys import ModeKeys
from torch_estimator.model_fn import bind_mode, check_spec
from torch_estimator.modules import (
    ModelFnContext,
    check_graph_parameters,
    model_fn_scope,
    raise_for_stray_parameters,
    reset_context,
    set_context,
    watch_parameter_creation,
)
from torch_estimator.spec import EstimatorSpec
from torch_estimator.state import TrainState
from torch_estimator.train.minimize import TrainOp, run_update


def train_loop(
    state: TrainState,
    batches: Iterator[tuple[Any, Any]],
    model_fn: Callable[[Any, Any, str], EstimatorSpec],
    hooks: Iterable[Any],
    *,
    device: torch.device,
    last_step: int | None,
    autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
    chief_hooks: bool = True,
    check_nan: bool = False,
) -> int:
    """Trains until ``last_step``, the end of ``batches``, or a hook's stop request.

    Args:
        state: Modules, optimizers and global step; updated in place.
        batches: ``(features, labels)`` tensor pairs.
        model_fn: Called as ``model_fn(features, labels, ModeKeys.TRAIN)`` (the Estimator's
            ``ModelFnCaller``, or any function with that signature).
        hooks: Session-run hooks (the Estimator's defaults and the user's).
        device: Where ``est.get_module`` puts new modules.
        last_step: Absolute global step to stop at (None: until the input ends).
        autocast: Context manager factory for the forward pass (mixed precision); None: none.
        chief_hooks: Whether to run the spec's ``training_chief_hooks`` (this process is chief).
        check_nan: Raise ``NanLossDuringTrainingError`` when a step's loss is NaN or infinite:
            the Estimator's default ``NanTensorHook("loss")``, done here because it reads the
            loss on every step, where a hook would add its bookkeeping to every step.

    Returns:
        The number of steps run.
    """
    if last_step is not None and state.global_step >= last_step:
        return 0
    state.registry.train()
    context = ModelFnContext(state.registry, ModeKeys.TRAIN, device, optimizers=state.optimizers,
                             scaler=state.scaler, on_optimizer_created=state.optimizer_created)
    scope = model_fn_scope(context)
    call = bind_mode(model_fn, ModeKeys.TRAIN)
    runner = HookRunner(hooks, session=state)
    runner.begin()
    with watch_parameter_creation():
        # The first step: builds the modules, then the session exists for the hooks.
        try:
            features, labels = next(batches)
        except StopIteration:
            state.input_exhausted()
            return 0
        context.summaries = []  # the first step always records (TF writes summaries at step 0 too)
        context.global_step = step = state.global_step
        with scope, (autocast or contextlib.nullcontext)():
            spec = check_spec(call(features=features, labels=labels), ModeKeys.TRAIN)
        check_graph_parameters(spec.loss, state.registry)
        runner.create_session(spec.training_hooks + (spec.training_chief_hooks if chief_hooks else ()))
        runner.before_run()
        with scope:
            spec.train_op()
        state.global_step = step = step + 1
        if check_nan and not math.isfinite(spec.loss.item()):
            raise NanLossDuringTrainingError(diverged_message(spec.loss.item(), step))
        runner.after_run(StepOutputs(spec.predictions, spec.loss, step, context.summaries))
        steps = 1
        if not runner.stop_requested and (last_step is None or step < last_step):
            ran, last_spec = _steady_steps(state, batches, call, runner, scope, autocast, check_nan, last_step)
            steps += ran
            spec = spec if last_spec is None else last_spec
    state.last_loss = spec.loss.detach()
    runner.end()
    return steps


def _steady_steps(state: TrainState, batches: Iterator[tuple[Any, Any]], call: Callable[..., Any],
                  runner: HookRunner, scope: model_fn_scope,
                  autocast: Callable[[], contextlib.AbstractContextManager] | None, check_nan: bool,
                  last_step: int | None) -> tuple[int, EstimatorSpec | None]:
    """Every step after the first; returns how many ran and the last spec.

    The same story as the first step, in as few Python operations as it takes:

    * hooks are called only on the steps where one is due (``runner.wake_step``/``wake_time``);
    * ``model_fn`` and the update share one ``model_fn`` scope, set inline (unless the forward
      pass runs under autocast: the update must not), and a ``minimize`` update runs directly.
    """
    registry, optimizers, scaler, on_created = state.registry, state.optimizers, state.scaler, state.optimizer_created
    stop, monotonic, train = runner.context, time.monotonic, ModeKeys.TRAIN
    end = math.inf if last_step is None else last_step
    context = scope.context
    steps = 0
    spec = None
    for features, labels in batches:
        step = state.global_step
        due = step >= runner.wake_step or runner.wake_time <= monotonic()
        context.summaries = [] if due and runner.before_run(step) else None
        context.global_step = step
        if not registry.training:  # a hook evaluated in between (InMemoryEvaluatorHook)
            registry.train()
        if autocast is None:
            token = set_context(context)
            try:
                spec = call(features=features, labels=labels)
                if type(spec) is not EstimatorSpec or spec.mode != train:
                    spec = check_spec(spec, train)
                train_op = spec.train_op
                if type(train_op) is TrainOp:
                    run_update(train_op, optimizers, registry, scaler, on_created)
                else:
                    train_op()
            finally:
                reset_context(token)
            if context.stray_parameters:
                raise_for_stray_parameters(context)
        else:
            with scope, autocast():
                spec = check_spec(call(features=features, labels=labels), train)
            with scope:
                spec.train_op()
        state.global_step = step = step + 1
        steps += 1
        if check_nan and not math.isfinite(spec.loss.item()):
            raise NanLossDuringTrainingError(diverged_message(spec.loss.item(), step))
        if due and runner.plan:
            runner.after_run(StepOutputs(spec.predictions, spec.loss, step, context.summaries))
        if stop._stop_requested or step >= end:
            break
    else:
        state.input_exhausted()
    return steps, spec
