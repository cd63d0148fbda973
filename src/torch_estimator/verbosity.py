"""``est.logging``: the package's log output, visible by default.

TensorFlow's Estimator logged at INFO, which Python hides by default, so training looked
silent (tensorflow/models#4917). Here the ``torch_estimator`` logger gets its own stderr
handler at INFO unless the application configured logging itself; ``set_verbosity`` changes the
level as ``tf.compat.v1.logging.set_verbosity`` did.
"""

from __future__ import annotations

import logging as _logging
import sys

DEBUG, INFO, WARN, ERROR, FATAL = _logging.DEBUG, _logging.INFO, _logging.WARNING, _logging.ERROR, _logging.FATAL
WARNING = WARN

logger = _logging.getLogger("torch_estimator")


def ensure_visible() -> None:
    """Adds an INFO stderr handler unless the application (root logger) or user configured one."""
    if logger.handlers or _logging.getLogger().handlers:
        return
    handler = _logging.StreamHandler(sys.stderr)
    handler.setFormatter(_logging.Formatter("%(levelname)s:torch_estimator:%(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    if logger.level == _logging.NOTSET:
        logger.setLevel(_logging.INFO)


def set_verbosity(level: int) -> None:
    """Sets the package's log level, e.g. ``est.logging.set_verbosity(est.logging.WARN)``."""
    ensure_visible()
    logger.setLevel(level)


def get_verbosity() -> int:
    return logger.getEffectiveLevel()
