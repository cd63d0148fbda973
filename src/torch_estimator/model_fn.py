"""Calling user functions by argument name, with TensorFlow's rules and errors.

``model_fn(features, labels, mode, params, config)`` and
``input_fn(mode, params, config, input_context)`` declare the arguments they want; the
Estimator passes only those. The checks run once, when the Estimator is built or a loop starts,
and produce a ready-made keyword dict so the per-batch call costs one function call.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from torch_estimator.errors import message
from torch_estimator.spec import EstimatorSpec

logger = logging.getLogger("torch_estimator")

MODEL_FN_ARGS = frozenset({"features", "labels", "mode", "params", "config", "self"})
INPUT_FN_ARGS = frozenset({"mode", "params", "config", "input_context"})


def fn_args(fn: Callable) -> tuple[str, ...]:
    """Names of the parameters of ``fn`` (``functools.partial`` and bound methods resolved)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as error:
        raise TypeError(message("Cannot read the arguments of a user function", expected="a Python callable",
                                fn=fn)) from error
    return tuple(name for name, p in signature.parameters.items()
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def verify_model_fn_args(model_fn: Callable, params: dict | None) -> tuple[str, ...]:
    """Checks ``model_fn``'s argument names against TensorFlow's rules; returns them."""
    if not callable(model_fn):
        raise ValueError(message("model_fn must be callable", expected="a function "
                                 "model_fn(features, labels, mode, params, config)", model_fn=model_fn))
    args = fn_args(model_fn)
    if "features" not in args:
        raise ValueError(message(f"model_fn ({model_fn!r}) must include features argument",
                                 expected="model_fn(features, labels, mode, params, config)",
                                 fix="Add a 'features' argument", args=list(args)))
    unexpected = sorted(set(args) - MODEL_FN_ARGS)
    if unexpected:
        raise ValueError(message(f"model_fn ({model_fn!r}) has following not expected args: {unexpected}",
                                 expected=f"argument names among {sorted(MODEL_FN_ARGS - {'self'})}",
                                 fix="Rename or remove them (use params=... for extra values)",
                                 args=list(args)))
    if params is not None and "params" not in args:
        raise ValueError(message(f"model_fn ({model_fn!r}) does not include params argument, but params "
                                 "are passed to Estimator", fix="Add a 'params' argument to model_fn, "
                                 "or stop passing params", params=params))
    if params is None and "params" in args:
        logger.warning("Estimator's model_fn (%r) includes params argument, but params are not passed "
                       "to Estimator.", model_fn)
    return args


class ModelFnCaller:
    """Calls ``model_fn`` with the arguments it declares and checks what it returns."""

    def __init__(self, model_fn: Callable, params: dict | None, config: Any) -> None:
        self.model_fn = model_fn
        self.args = verify_model_fn_args(model_fn, params)
        self.takes_labels = "labels" in self.args
        static = {"params": params, "config": config}
        self._static = {name: value for name, value in static.items() if name in self.args}

    def __call__(self, features: Any, labels: Any, mode: str) -> EstimatorSpec:
        kwargs = dict(self._static)
        if "mode" in self.args:
            kwargs["mode"] = mode
        if self.takes_labels:
            kwargs["labels"] = labels
        elif labels is not None:
            raise ValueError(message("model_fn does not take labels, but input_fn returns labels",
                                     expected="model_fn(features, labels, mode) when input_fn yields "
                                              "(features, labels)",
                                     fix="Add a 'labels' argument to model_fn, or return only features "
                                         "from input_fn", model_fn_args=list(self.args)))
        return check_spec(self.model_fn(features=features, **kwargs), mode)

    def bound(self, mode: str) -> Callable[..., Any]:
        """``model_fn`` for one mode, called as ``bound(features=..., labels=...)``.

        The argument matching is done once: the training loop calls ``model_fn`` every step.
        The result is not checked; pass it to :func:`check_spec`.
        """
        static = dict(self._static)
        if "mode" in self.args:
            static["mode"] = mode
        if not self.takes_labels:
            return lambda features, labels: self(features, labels, mode)  # refuses labels
        return functools.partial(self.model_fn, **static)


def bind_mode(model_fn: Callable[..., EstimatorSpec], mode: str) -> Callable[..., Any]:
    """``model_fn.bound(mode)`` for a :class:`ModelFnCaller`; for a plain function of
    ``(features, labels, mode)`` (loops run those too), the same calling convention."""
    if isinstance(model_fn, ModelFnCaller):
        return model_fn.bound(mode)
    return lambda features, labels: model_fn(features, labels, mode)


def check_spec(spec: Any, mode: str) -> EstimatorSpec:
    """Returns ``spec`` if it is an EstimatorSpec for ``mode``; raises a clear error otherwise."""
    if not isinstance(spec, EstimatorSpec):
        raise ValueError(message("model_fn should return an EstimatorSpec",
                                 expected="est.EstimatorSpec(mode, predictions=..., loss=..., train_op=...)",
                                 fix="Return an EstimatorSpec from every branch of model_fn",
                                 returned=type(spec).__name__))
    if spec.mode != mode:
        raise ValueError(message("model_fn returned an EstimatorSpec for another mode",
                                 expected=f"mode={mode!r}", fix="Pass the mode argument through",
                                 returned_mode=spec.mode))
    return spec


def call_input_fn(input_fn: Callable, mode: str, params: dict | None, config: Any,
                  input_context: Any = None) -> Any:
    """Calls ``input_fn`` with the arguments it declares (TensorFlow's rules)."""
    if not callable(input_fn):
        raise TypeError(message("input_fn must be callable", expected="a function returning (features, "
                                "labels) batches", fix="Pass the function itself, not its result "
                                "(input_fn=lambda: ... or input_fn=my_input_fn)", input_fn=type(input_fn).__name__))
    args = fn_args(input_fn)
    available = {"mode": mode, "params": params, "config": config, "input_context": input_context}
    return input_fn(**{name: available[name] for name in args if name in available})
