"""Optimizers by name, with TensorFlow 2's defaults, for ``est.train.minimize``.

TF Estimator's canned estimators and ``minimize`` take ``'Adagrad'``, ``'Adam'``, ``'Ftrl'``,
``'RMSProp'`` or ``'SGD'``; TF 2 built ``tf.keras.optimizers.legacy.<Name>()`` from them. Here
each name builds the torch optimizer configured to do the same arithmetic:

============  ======================  ==========  ===============================================
Name          torch class             default lr  hyper-parameters mapped (TF name -> torch)
============  ======================  ==========  ===============================================
``Adagrad``   ``torch.optim.Adagrad`` 0.001       initial_accumulator_value=0.1, epsilon=1e-7 ->
                                                  eps=1e-7
``Adam``      ``torch.optim.Adam``    0.001       beta_1=0.9, beta_2=0.999 -> betas=(0.9, 0.999);
                                                  epsilon=1e-7 -> eps=1e-7
``Ftrl``      :class:`.ftrl.Ftrl`     0.001       all of Keras's, same names (exact update)
``RMSProp``   ``torch.optim.RMSprop`` 0.001       rho=0.9 -> alpha=0.9; epsilon=1e-7 -> eps=1e-7;
                                                  momentum=0.0; centered=False
``SGD``       ``torch.optim.SGD``     0.01        momentum=0.0 (nesterov=False)
============  ======================  ==========  ===============================================

The default learning rates are the Keras class defaults, which TF 2's ``get_optimizer_instance_v2``
used when given no rate (TF's canned estimators pass their own, 0.05). Remaining differences:

* **SGD, Ftrl**: none.
* **Adagrad**: none against TF Estimator's ``legacy.Adagrad`` (the ``ApplyAdagradV2`` kernel),
  ``var -= lr * g / (sqrt(acc) + eps)``, which is torch's formula. Keras >= 2.11 and Keras 3
  put epsilon inside the root, ``var -= lr * g / sqrt(acc + eps)``; as ``acc >= 0.1`` the two
  differ by less than 2e-7 relative.
* **RMSProp**: none against ``legacy.RMSprop`` with ``momentum=0`` (the default), whose dense
  update is ``var -= lr * g / (sqrt(ms) + eps)``, torch's formula. Keras >= 2.11, Keras 3, and
  the legacy class with ``momentum > 0`` use ``sqrt(ms + eps)``. The gap matters only when
  ``ms`` is near ``eps``: at step 1 with ``|g| = 1e-4``, ``ms = 1e-9``, Keras's step is
  ``lr * g / sqrt(1.01e-7)`` and torch's ``lr * g / (3.16e-5 + 1e-7)``, 10 times larger.
* **Adam**: Keras and TF's ``ApplyAdam`` kernel fold both bias corrections into the rate,
  ``var -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``; torch corrects ``v``
  first, ``var -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``. Multiplying through
  by ``sqrt(1 - b2^t)``, torch equals Keras with epsilon ``eps * sqrt(1 - b2^t)``: 3.2e-9 at
  step 1, 8e-8 at step 1000, tending to 1e-7. This only shows when ``sqrt(v)`` is within a few
  orders of magnitude of epsilon, i.e. gradients of about 1e-5 or smaller.

torch may use its ``foreach`` kernels, which round differently in the last bit.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Union

import torch
from torch.optim.optimizer import ParamsT

from torch_estimator.errors import message
from torch_estimator.train.ftrl import Ftrl

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]
"""A callable ``params -> torch.optim.Optimizer``, such as ``lambda p: torch.optim.Adam(p, lr=0.01)``."""

OptimizerLike = Union[str, type[torch.optim.Optimizer], OptimizerFactory]
"""What ``make_optimizer`` (and ``est.train.minimize``) accepts as ``optimizer``."""


@dataclasses.dataclass(frozen=True)
class _NamedOptimizer:
    torch_class: type[torch.optim.Optimizer]
    default_learning_rate: float
    hyperparameters: Mapping[str, Any]


_NAMED: Mapping[str, _NamedOptimizer] = MappingProxyType({
    "Adagrad": _NamedOptimizer(torch.optim.Adagrad, 0.001, {"initial_accumulator_value": 0.1, "eps": 1e-7}),
    "Adam": _NamedOptimizer(torch.optim.Adam, 0.001, {"betas": (0.9, 0.999), "eps": 1e-7}),
    "Ftrl": _NamedOptimizer(Ftrl, 0.001, {}),  # Ftrl's own defaults are Keras's
    "RMSProp": _NamedOptimizer(torch.optim.RMSprop, 0.001,
                               {"alpha": 0.9, "eps": 1e-7, "momentum": 0.0, "centered": False}),
    "SGD": _NamedOptimizer(torch.optim.SGD, 0.01, {"momentum": 0.0}),
})

OPTIMIZER_NAMES: tuple[str, ...] = tuple(_NAMED)  # ("Adagrad", "Adam", "Ftrl", "RMSProp", "SGD")
"""The names ``make_optimizer`` accepts (matched case-insensitively; ``'RMSprop'`` works too)."""

DEFAULT_LEARNING_RATES: Mapping[str, float] = MappingProxyType(
    {name: named.default_learning_rate for name, named in _NAMED.items()})
"""The learning rate each name gets when none is given: the TF 2 / Keras class default."""

# Lower-cased, so that Keras's spelling 'RMSprop' and TF Estimator's 'RMSProp' both resolve.
_BY_LOWER_NAME: Mapping[str, str] = {name.lower(): name for name in OPTIMIZER_NAMES}

_EXPECTED = (f"an optimizer name (one of {OPTIMIZER_NAMES}), a torch.optim.Optimizer subclass, "
             "or a callable params -> torch.optim.Optimizer")


def make_optimizer(optimizer: OptimizerLike, params: ParamsT,
                   learning_rate: float | None = None) -> torch.optim.Optimizer:
    """Creates the optimizer that ``minimize`` describes, over ``params``.

    Args:
        optimizer: One of :data:`OPTIMIZER_NAMES` (case-insensitive), configured with TensorFlow
            2's defaults (see the module docstring); a ``torch.optim.Optimizer`` subclass, called
            as ``cls(params, lr=learning_rate)``, or ``cls(params)`` without a learning rate; or a
            callable ``params -> torch.optim.Optimizer``.
        params: The parameters (or param-group dicts) to optimize.
        learning_rate: Overrides the default rate of a name, is passed as ``lr`` to a class, and
            is written into every param group of what a callable returns. None keeps defaults.

    Returns:
        A new optimizer over ``params``.

    Raises:
        ValueError: ``learning_rate`` is not a finite number > 0, or the name is unknown.
        TypeError: ``optimizer`` is an already-built optimizer (the Estimator must build it, over
            its own parameters, to checkpoint it), a callable returned something other than an
            optimizer, or ``optimizer`` is none of the accepted kinds.

    Example:
        >>> w = [torch.nn.Parameter(torch.zeros(2))]
        >>> make_optimizer("RMSprop", w).defaults["alpha"], make_optimizer("sgd", w).defaults["lr"]
        (0.9, 0.01)
        >>> type(make_optimizer(torch.optim.AdamW, w, learning_rate=0.1)).__name__
        'AdamW'
        >>> make_optimizer(lambda p: torch.optim.SGD(p, lr=1.0, momentum=0.9), w, 0.5).param_groups[0]["lr"]
        0.5
    """
    if learning_rate is not None:
        learning_rate = _checked_learning_rate(learning_rate)
    if isinstance(optimizer, str):
        return _make_named(optimizer, params, learning_rate)
    if isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(_instance_error(optimizer))
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer(params) if learning_rate is None else optimizer(params, lr=learning_rate)
    if callable(optimizer):
        return _make_from_callable(optimizer, params, learning_rate)
    raise TypeError(message("optimizer is of an unsupported kind", expected=_EXPECTED,
                            **{"type(optimizer)": type(optimizer).__name__}))


def _checked_learning_rate(learning_rate: Any) -> float:
    # bool is a number to Python, but learning_rate=True is a mistake, never a rate of 1.
    if (not isinstance(learning_rate, numbers.Real) or isinstance(learning_rate, bool)
            or not math.isfinite(learning_rate) or learning_rate <= 0):
        raise ValueError(message("learning_rate must be a positive number", expected="a finite float > 0",
                                 learning_rate=learning_rate,
                                 fix="Pass e.g. learning_rate=0.01, or None for the optimizer's default"))
    return float(learning_rate)


def _instance_error(optimizer: torch.optim.Optimizer) -> str:
    cls = type(optimizer)
    # Spell the fix with the user's own class and rate, so that it can be pasted as is.
    path = f"torch.optim.{cls.__name__}" if getattr(torch.optim, cls.__name__, None) is cls else (
        f"{cls.__module__}.{cls.__qualname__}")
    lr = optimizer.defaults.get("lr")
    arguments = f"params, lr={lr!r}" if isinstance(lr, (int, float)) else "params, ..."
    return message(
        "optimizer is an optimizer instance, but the Estimator must create the optimizer itself, once, "
        "over its own parameters, so that it can checkpoint and restore it",
        expected=_EXPECTED, **{"type(optimizer)": cls.__name__},
        fix=f"Pass a callable instead, e.g. optimizer=lambda params: {path}({arguments})")


def _make_named(name: str, params: ParamsT, learning_rate: float | None) -> torch.optim.Optimizer:
    canonical = _BY_LOWER_NAME.get(name.lower())
    if canonical is None:
        close = difflib.get_close_matches(name.lower(), list(_BY_LOWER_NAME), n=1)
        hint = f"Did you mean {_BY_LOWER_NAME[close[0]]!r}? " if close else ""
        raise ValueError(message(
            "Unknown optimizer name", expected=f"one of {OPTIMIZER_NAMES} (case-insensitive)", optimizer=name,
            fix=f"{hint}For another optimizer pass its class, e.g. optimizer=torch.optim.AdamW, "
                "or a callable params -> torch.optim.Optimizer"))
    named = _NAMED[canonical]
    lr = named.default_learning_rate if learning_rate is None else learning_rate
    return named.torch_class(params, lr=lr, **named.hyperparameters)


def _make_from_callable(factory: Callable[..., Any], params: ParamsT,
                        learning_rate: float | None) -> torch.optim.Optimizer:
    created = factory(params)
    if not isinstance(created, torch.optim.Optimizer):
        # A long repr (a model, a list of parameters) would bury the message; its type is enough.
        shown = {"returned": created} if len(repr(created)) <= 80 else {"type(returned)": type(created).__name__}
        raise TypeError(message(
            "The optimizer callable did not return a torch.optim.Optimizer",
            expected="a callable params -> torch.optim.Optimizer", **shown,
            fix="Return the optimizer built over the params argument, e.g. "
                "lambda params: torch.optim.Adam(params, lr=0.01)"))
    if learning_rate is not None:
        for group in created.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(learning_rate)  # fused/capturable optimizers need lr to stay a tensor
            else:
                group["lr"] = learning_rate
    return created
