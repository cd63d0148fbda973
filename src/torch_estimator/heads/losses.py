"""``est.losses``: loss reductions with TensorFlow's names, and weighted-loss arithmetic.

A head computes one unreduced loss per example (per example and label dimension for
regression), multiplies it by the example weights, and reduces it with the head's
``loss_reduction``. The reduction decides what the training loss, and so the ``loss`` reported by
``evaluate()`` (the mean of the per-batch losses), means:

* ``SUM_OVER_BATCH_SIZE`` (the default, and ``AUTO``): ``sum(w * l) / number of loss elements``.
  Independent of the batch size; the ``average_loss`` metric is the exact weighted
  per-example mean over the whole evaluation set, so the two agree up to the weighting.
* ``SUM``: ``sum(w * l)``; scales with the batch size (TF 1's canned default, and the source of
  ``loss=26.7`` next to ``average_loss=0.67`` in TF 1 logs).
* ``MEAN`` and ``SUM_BY_NONZERO_WEIGHTS``: TF 1's ``tf.compat.v1.losses.Reduction`` extras,
  ``sum(w * l) / sum(w)`` and ``sum(w * l) / count(w != 0)``, accepted so that heads ported from
  TF 1 code keep their arithmetic.
* ``NONE``: no reduction; valid for :func:`compute_weighted_loss`, not for heads (a training loss
  must be a scalar), as in TensorFlow.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from torch_estimator.errors import message


class Reduction:
    """How a weighted loss is reduced over the batch (TF's ``tf.keras.losses.Reduction``).

    Example:
        >>> Reduction.SUM_OVER_BATCH_SIZE
        'sum_over_batch_size'
        >>> Reduction.validate("sum")
        'sum'
    """

    AUTO = "auto"
    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"
    # TF 1 (tf.compat.v1.losses.Reduction) reductions, same string values as there.
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls) -> tuple[str, ...]:
        """Every valid reduction."""
        return (cls.AUTO, cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE, cls.MEAN, cls.SUM_BY_NONZERO_WEIGHTS)

    @classmethod
    def validate(cls, key: Any) -> str:
        """Returns ``key`` if it is a valid reduction.

        Raises:
            ValueError: for anything else.
        """
        if not isinstance(key, str) or key not in cls.all():
            raise ValueError(message("Invalid Reduction Key", expected=f"one of {cls.all()}",
                                     fix="Use est.losses.Reduction.SUM_OVER_BATCH_SIZE or another "
                                         "est.losses.Reduction value", key=key))
        return key


def validate_loss_reduction(loss_reduction: Any) -> str:
    """Checks a head's ``loss_reduction``: any :class:`Reduction` except ``NONE``.

    Raises:
        ValueError: ``NONE`` or an unknown value.

    Example:
        >>> validate_loss_reduction(Reduction.SUM)
        'sum'
    """
    if not isinstance(loss_reduction, str) or loss_reduction not in Reduction.all() \
            or loss_reduction == Reduction.NONE:
        raise ValueError(message(
            "Invalid loss_reduction", expected="one of est.losses.Reduction except NONE (a head's training loss "
            f"must be a scalar): {tuple(r for r in Reduction.all() if r != Reduction.NONE)}",
            fix="Pass e.g. loss_reduction=est.losses.Reduction.SUM_OVER_BATCH_SIZE", loss_reduction=loss_reduction))
    return loss_reduction


def compute_weighted_loss(losses: torch.Tensor, weights: torch.Tensor | float | None = None,
                          reduction: str = Reduction.SUM_OVER_BATCH_SIZE) -> torch.Tensor:
    """``losses * weights``, reduced with ``reduction`` (TF's ``compute_weighted_loss``).

    Args:
        losses: Unreduced losses, e.g. ``[batch, 1]``.
        weights: None, a number, or a tensor broadcastable to ``losses`` (e.g. ``[batch, 1]``).
        reduction: A :class:`Reduction`.

    Returns:
        A scalar, or the weighted losses for ``Reduction.NONE``. Empty batches and zero total
        weights give 0, not NaN.

    Raises:
        ValueError: for an unknown ``reduction``.

    Example:
        >>> losses = torch.tensor([[1.0], [2.0], [3.0]])
        >>> weights = torch.tensor([[1.0], [0.0], [2.0]])
        >>> compute_weighted_loss(losses, weights, Reduction.SUM)                  # 1 + 0 + 6
        tensor(7.)
        >>> compute_weighted_loss(losses, weights)                                 # 7 / 3
        tensor(2.3333)
        >>> compute_weighted_loss(losses, weights, Reduction.MEAN)                 # 7 / (1 + 0 + 2)
        tensor(2.3333)
        >>> compute_weighted_loss(losses, weights, Reduction.SUM_BY_NONZERO_WEIGHTS)  # 7 / 2
        tensor(3.5000)
    """
    Reduction.validate(reduction)
    weighted = losses if weights is None else losses * weights
    if reduction == Reduction.NONE:
        return weighted
    total = weighted.sum()
    if reduction == Reduction.SUM:
        return total
    if reduction in (Reduction.SUM_OVER_BATCH_SIZE, Reduction.AUTO):
        # numel is known on the host: no device synchronisation.
        return total / max(weighted.numel(), 1)
    full_weights = torch.ones_like(losses) if weights is None else torch.broadcast_to(
        torch.as_tensor(weights, dtype=losses.dtype, device=losses.device), weighted.shape)
    if reduction == Reduction.MEAN:
        denominator = full_weights.sum()
    else:
        denominator = (full_weights != 0).sum().to(total.dtype)
    return torch.where(denominator == 0, torch.zeros_like(total), total / torch.where(denominator == 0, 1, denominator))


_LOSS_FN_ARGS = ("labels", "logits", "features", "loss_reduction")


def validate_loss_fn_args(loss_fn: Any) -> tuple[str, ...]:
    """Checks a head's ``loss_fn``: arguments ``labels`` and ``logits``, optionally ``features``
    and ``loss_reduction``, nothing else (TF's ``validate_loss_fn_args``).

    Returns:
        The argument names of ``loss_fn``.

    Raises:
        TypeError: ``loss_fn`` is not callable.
        ValueError: a required argument is missing or an unexpected one is present.

    Example:
        >>> validate_loss_fn_args(lambda labels, logits: (labels - logits) ** 2)
        ('labels', 'logits')
    """
    if not callable(loss_fn):
        raise TypeError(message("loss_fn must be callable", expected="a function (labels, logits[, features]) -> "
                                "unreduced loss tensor", loss_fn=type(loss_fn).__name__))
    try:
        parameters = inspect.signature(loss_fn).parameters
    except (TypeError, ValueError):  # builtins without a signature: trust the caller
        return ("labels", "logits")
    names = tuple(name for name, p in parameters.items()
                  if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD))
    missing = [name for name in ("labels", "logits") if name not in names]
    unexpected = [name for name in names if name not in _LOSS_FN_ARGS]
    if missing or unexpected:
        raise ValueError(message(
            "loss_fn has the wrong arguments",
            expected="arguments named labels and logits, optionally features and loss_reduction, and no others",
            fix="Define it as def loss_fn(labels, logits, features=None): ...", arguments=list(names),
            missing=missing, unexpected=unexpected))
    return names


def call_loss_fn(loss_fn: Callable[..., torch.Tensor], labels: torch.Tensor, logits: torch.Tensor,
                 features: Any, loss_reduction: str, expected_loss_dim: int) -> torch.Tensor:
    """Calls a user ``loss_fn`` by argument name and checks it returned an unreduced loss.

    Raises:
        ValueError: the result is not a tensor of shape ``logits.shape[:-1] + [expected_loss_dim]``.

    Example:
        >>> logits = torch.zeros(3, 1)
        >>> call_loss_fn(lambda labels, logits: (labels - logits) ** 2, torch.ones(3, 1), logits, None,
        ...              Reduction.SUM, 1).shape
        torch.Size([3, 1])
    """
    names = validate_loss_fn_args(loss_fn)
    kwargs = {"labels": labels, "logits": logits}
    if "features" in names:
        kwargs["features"] = features
    if "loss_reduction" in names:
        kwargs["loss_reduction"] = loss_reduction
    loss = loss_fn(**kwargs)
    expected = (*logits.shape[:-1], expected_loss_dim)
    if not isinstance(loss, torch.Tensor) or tuple(loss.shape) != expected:
        raise ValueError(message(
            f"loss_fn must return Tensor of shape [D0, D1, ... DN, {expected_loss_dim}]",
            expected=f"the unreduced loss, one value per example: shape {list(expected)}",
            fix="Return the per-example loss without reducing it (e.g. reduction='none', and keepdim=True "
                "when averaging over classes)",
            logits_shape=list(logits.shape),
            loss_shape=list(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__))
    return loss


def loss_problems(loss_reduction: Any, loss_fn: Any) -> list[str]:
    """What is wrong with a head's ``loss_reduction`` and ``loss_fn`` (empty when both are valid).

    Example:
        >>> loss_problems(Reduction.SUM, None)
        []
        >>> len(loss_problems(Reduction.NONE, lambda labels: labels))
        2
    """
    problems = []
    checks = [(validate_loss_reduction, loss_reduction)] + ([(validate_loss_fn_args, loss_fn)] if loss_fn else [])
    for check, value in checks:
        try:
            check(value)
        except (TypeError, ValueError) as error:
            problems.append(str(error))
    return problems


def training_loss(unweighted_loss: torch.Tensor, weights: torch.Tensor | None, loss_reduction: str,
                  regularization_loss: torch.Tensor | None) -> torch.Tensor:
    """The head's training loss: the reduced weighted loss plus the regularization loss.

    Example:
        >>> training_loss(torch.tensor([[1.0], [3.0]]), None, Reduction.SUM, torch.tensor(0.5))
        tensor(4.5000)
    """
    loss = compute_weighted_loss(unweighted_loss, weights, loss_reduction)
    return loss if regularization_loss is None else loss + regularization_loss
