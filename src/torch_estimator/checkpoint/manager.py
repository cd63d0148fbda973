"""``CheckpointManager``: the ``model.ckpt-<step>`` directories of one ``model_dir``.

It decides names, keeps the ``checkpoint`` index, applies ``keep_checkpoint_max`` and
``keep_checkpoint_every_n_hours``, and picks the newest *loadable* checkpoint (falling back to an
older one, with a warning, when the newest is damaged). Only the chief writes (the check lives
here, in the sink, not in the training loop). Under data parallelism every rank calls
:meth:`CheckpointManager.save` at the same step: the chief writes, then all ranks wait until it
is written, so every rank can restore it. Under FSDP (``replication.sharded``) every rank writes
its own shards into the chief's temporary directory (DCP, collectively), and the chief alone
writes the manifest, renames the directory and updates the index. A checkpoint that a reader holds a lease on
(:mod:`~torch_estimator.checkpoint.lease`, the evaluator task) leaves the index as usual, but
its files are deleted only at a later save, once the lease is released.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from typing import Any

from torch_estimator.checkpoint import storage
from torch_estimator.checkpoint.lease import leased
from torch_estimator.checkpoint.index import (
    INDEX_FILENAME,
    CheckpointIndex,
    read_index,
    write_index,
)
from torch_estimator.durable import TEMPORARY_INFIX
from torch_estimator.errors import CheckpointError, message

logger = logging.getLogger("torch_estimator")

CHECKPOINT_BASENAME = "model.ckpt"
_STEP = re.compile(r"-(\d+)$")


def checkpoint_step(path: str) -> int | None:
    """The global step in a checkpoint name (``.../model.ckpt-1000`` -> 1000)."""
    match = _STEP.search(os.path.basename(os.path.normpath(path)))
    return int(match.group(1)) if match else None


class CheckpointManager:
    """Saves, lists, verifies and garbage-collects the checkpoints of ``directory``.

    Args:
        replication: The training processes (``world_size > 1``): saves are then collective.
    """

    def __init__(self, directory: str, keep_checkpoint_max: int | None = 5,
                 keep_checkpoint_every_n_hours: float = 10000.0, is_chief: bool = True,
                 basename: str = CHECKPOINT_BASENAME, replication: Any = None) -> None:
        self.directory = directory
        self.keep_checkpoint_max = keep_checkpoint_max or None
        self.keep_every_secs = keep_checkpoint_every_n_hours * 3600.0
        self.is_chief = is_chief
        self.basename = basename
        self.replication = replication
        self._deferred: list[str] = []  # out of the index, files kept while a reader holds a lease

    def all_checkpoints(self) -> list[str]:
        """Full paths of the tracked checkpoints, oldest first."""
        return [os.path.join(self.directory, name) for name in read_index(self.directory).all]

    def latest(self) -> str | None:
        """Full path of the newest checkpoint named in the index, or None (no verification)."""
        index = read_index(self.directory)
        return os.path.join(self.directory, index.latest) if index.latest else None

    def latest_valid(self) -> str | None:
        """The newest checkpoint that passes verification; older ones are tried with a warning.

        Raises:
            CheckpointError: if the index names checkpoints and none of them is usable (starting
                from scratch silently would throw the run away).
        """
        index = read_index(self.directory)
        candidates = list(index.all)
        if index.latest and index.latest not in candidates:
            candidates.append(index.latest)
        for name in reversed(candidates):
            path = os.path.join(self.directory, name)
            try:
                storage.verify(path)
                return path
            except CheckpointError as error:
                logger.warning("Checkpoint %s is not usable (%s); falling back to the previous one.",
                               path, error)
        if candidates:
            raise CheckpointError(message(
                "None of the checkpoints in model_dir is usable", expected="at least one intact checkpoint",
                fix="Restore them from a backup, or move them away to start training from scratch",
                model_dir=self.directory, checkpoints=candidates))
        return None

    def save(self, state_dict: dict[str, Any], step: int) -> str | None:
        """Writes checkpoint ``step`` (chief only) and updates the index; returns its path.

        Under data parallelism every rank calls it and gets the path once the chief wrote it;
        alone, a non-chief process writes nothing and gets None.
        """
        path = os.path.join(self.directory, f"{self.basename}-{step}")
        if self.replication is not None and self.replication.sharded:
            self._write_shards(state_dict, path)
        elif self.is_chief:
            self._prepare()
            storage.save_state(state_dict, path)
            self._record(os.path.basename(path))
        if self.replication is None:
            return path if self.is_chief else None
        self.replication.barrier()  # every rank may restore it (or see it as latest) from now on
        return path

    def _write_shards(self, state_dict: dict[str, Any], path: str) -> None:
        """Every rank writes its shards into the chief's temporary directory; the chief commits."""
        tmp = None
        if self.is_chief:
            self._prepare()  # before any rank writes: the stale temporaries removed are not this one
            tmp = storage.temporary_path(path)
            shutil.rmtree(tmp, ignore_errors=True)
        tmp = self.replication.broadcast(tmp, source=0)
        storage.write_files(state_dict, tmp, path, collective=True)  # complete on every rank at return
        if self.is_chief:
            storage.commit(tmp, path)
            self._record(os.path.basename(path))

    def _prepare(self) -> None:
        os.makedirs(self.directory, exist_ok=True)
        self._remove_stale_temporaries()

    def _record(self, name: str) -> None:
        """Names the new checkpoint ``name`` in the index and applies retention."""
        index = read_index(self.directory)
        now = time.time()
        if name in index.all:
            position = index.all.index(name)
            del index.all[position], index.timestamps[position]
        index.all.append(name)
        index.timestamps.append(now)
        index.latest = name
        if index.last_preserved_timestamp is None:
            index.last_preserved_timestamp = now
        removed = self._deferred + self._apply_retention(index)
        write_index(self.directory, index)
        in_use = leased(self.directory) if removed else set()
        self._deferred = [old for old in removed if old in in_use]
        for old in removed:  # delete only after the index no longer names them
            if old not in in_use:
                shutil.rmtree(os.path.join(self.directory, old), ignore_errors=True)

    def _apply_retention(self, index: CheckpointIndex) -> list[str]:
        removed = []
        while self.keep_checkpoint_max and len(index.all) > self.keep_checkpoint_max:
            name, stamp = index.all.pop(0), index.timestamps.pop(0)
            if stamp - (index.last_preserved_timestamp or 0.0) >= self.keep_every_secs:
                index.last_preserved_timestamp = stamp  # kept on disk, no longer tracked (as TF)
            else:
                removed.append(name)
        return removed

    def _remove_stale_temporaries(self) -> None:
        # Left by a process killed mid-save: never loadable, since they were never renamed.
        for entry in os.listdir(self.directory):
            path = os.path.join(self.directory, entry)
            if entry.startswith(f".{self.basename}-") and (".tmp-" in entry or ".old-" in entry):
                shutil.rmtree(path, ignore_errors=True)
            elif entry.startswith(INDEX_FILENAME + TEMPORARY_INFIX) and os.path.isfile(path):
                os.remove(path)
