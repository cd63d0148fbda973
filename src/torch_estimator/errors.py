"""Exceptions raised by torch_estimator, and the one template every error message follows.

Messages read: ``<what is wrong>. Expected <constraint>. Received: <name>=<value!r>. <How to fix>.``
Exceptions subclass the builtin TensorFlow raised in the same situation (mostly ``ValueError``
and ``TypeError``), so ``except`` clauses in migrated code keep working.
"""

from __future__ import annotations

from typing import Any


def message(what: str, expected: str | None = None, fix: str | None = None, **received: Any) -> str:
    """Formats an error message with the project's template.

    Example:
        >>> message("Loss must be a scalar", expected="a tensor of shape [] or [1]",
        ...         fix="Reduce it, e.g. loss.mean()", shape=(3,))
        'Loss must be a scalar. Expected a tensor of shape [] or [1]. Received: shape=(3,). Reduce it, e.g. loss.mean().'
    """
    parts = [what.rstrip(".") + "."]
    if expected:
        parts.append(f"Expected {expected.rstrip('.')}.")
    if received:
        parts.append("Received: " + ", ".join(f"{k}={v!r}" for k, v in received.items()) + ".")
    if fix:
        parts.append(fix.rstrip(".") + ".")
    return " ".join(parts)


class ReadableKeyError(KeyError):
    """A ``KeyError`` whose message prints as written (the builtin repr-quotes it: TF #36857)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidSpecError(ValueError, TypeError):
    """A ``TrainSpec``/``EvalSpec`` is invalid; the message lists every problem.

    Both a ``ValueError`` and a ``TypeError``: TensorFlow raised one or the other depending on
    the problem, and all problems are reported together, so migrated ``except`` clauses of
    either kind keep working.
    """


class NanLossDuringTrainingError(RuntimeError):
    """Training produced a NaN or infinite loss (TensorFlow's ``NanLossDuringTrainingError``)."""


class CheckpointError(RuntimeError):
    """No usable checkpoint could be read or written."""
