"""Durable file writes: nothing is lost on a crash.

Every file the project publishes (checkpoint index, manifests, BestExporter's record, export
directories) is written under a temporary name, flushed to disk, and renamed over the final
name, so a reader sees the old version or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os

TEMPORARY_INFIX = ".tmp-"


def write_text_atomically(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` through a fsynced temporary file and an atomic rename.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "checkpoint")
        >>> write_text_atomically(path, "model_checkpoint_path: \\"model.ckpt-1\\"\\n")
        >>> open(path).read().startswith("model_checkpoint_path")
        True
    """
    tmp = f"{path}{TEMPORARY_INFIX}{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    fsync_directory(os.path.dirname(path) or ".")


def fsync_directory(directory: str) -> None:
    """Makes renames and new entries in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(directory: str) -> None:
    """Flushes every file below ``directory``, then the directories (before publishing it by rename)."""
    for root, _, names in os.walk(directory):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                os.fsync(f.fileno())
        fsync_directory(root)
