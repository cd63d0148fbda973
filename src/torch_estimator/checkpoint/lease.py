"""Leases: a reader's promise-to-finish marker that keeps a checkpoint from being deleted.

The evaluator task reads checkpoints the chief writes; the chief's retention
(``keep_checkpoint_max``) may want to delete one while it is being evaluated. A reader holds a
lease, a file ``.lease-<checkpoint>-<pid>`` in ``model_dir``, while it reads; the
:class:`~torch_estimator.checkpoint.manager.CheckpointManager` drops a leased checkpoint from
the index as usual but deletes its files only once no fresh lease names it. A lease older than
:data:`LEASE_SECS` (its reader died) no longer counts.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

LEASE_PREFIX = ".lease-"
LEASE_SECS = 3600.0


@contextlib.contextmanager
def checkpoint_lease(path: str) -> Iterator[None]:
    """Holds a lease on checkpoint ``path`` for the duration of the ``with`` block."""
    directory, name = os.path.split(os.path.normpath(path))
    lease = os.path.join(directory, f"{LEASE_PREFIX}{name}-{os.getpid()}")
    with open(lease, "w", encoding="utf-8"):
        pass  # an empty file: its name and modification time are the whole lease
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(lease)


def leased(directory: str, now: float | None = None) -> set[str]:
    """Names of the checkpoints in ``directory`` with a fresh lease."""
    now = time.time() if now is None else now
    names = set()
    for entry in os.listdir(directory):
        if not entry.startswith(LEASE_PREFIX):
            continue
        with contextlib.suppress(FileNotFoundError):
            if now - os.path.getmtime(os.path.join(directory, entry)) < LEASE_SECS:
                names.add(entry[len(LEASE_PREFIX):].rsplit("-", 1)[0])
    return names
