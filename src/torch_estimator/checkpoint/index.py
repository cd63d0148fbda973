"""The ``checkpoint`` index file in ``model_dir``, in TensorFlow's text format.

::

    model_checkpoint_path: "model.ckpt-1000"
    all_model_checkpoint_paths: "model.ckpt-500"
    all_model_checkpoint_paths: "model.ckpt-1000"
    all_model_checkpoint_timestamps: 1700000000.0
    all_model_checkpoint_timestamps: 1700000600.0
    last_preserved_timestamp: 1699999000.0

Paths are relative to the directory (TensorFlow's ``save_relative_paths=True``), so a
``model_dir`` can be moved. The file is replaced atomically.
"""

from __future__ import annotations

import dataclasses
import os
import re

from torch_estimator.durable import write_text_atomically

INDEX_FILENAME = "checkpoint"
_LINE = re.compile(r'^\s*(\w+)\s*:\s*"?([^"]*)"?\s*$')


@dataclasses.dataclass
class CheckpointIndex:
    """Names (relative to the directory) of the latest and of all tracked checkpoints."""

    latest: str | None = None
    all: list[str] = dataclasses.field(default_factory=list)
    timestamps: list[float] = dataclasses.field(default_factory=list)
    last_preserved_timestamp: float | None = None


def read_index(directory: str) -> CheckpointIndex:
    """Parses ``directory/checkpoint``; an absent file is an empty index."""
    path = os.path.join(directory, INDEX_FILENAME)
    index = CheckpointIndex()
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return index
    for line in lines:
        match = _LINE.match(line)
        if not match:
            continue
        key, value = match.groups()
        if key == "model_checkpoint_path":
            index.latest = os.path.basename(value)
        elif key == "all_model_checkpoint_paths":
            index.all.append(os.path.basename(value))
        elif key == "all_model_checkpoint_timestamps":
            index.timestamps.append(float(value))
        elif key == "last_preserved_timestamp":
            index.last_preserved_timestamp = float(value)
    if len(index.timestamps) != len(index.all):
        index.timestamps = [0.0] * len(index.all)
    return index


def write_index(directory: str, index: CheckpointIndex) -> None:
    """Writes the index to a temporary file, fsyncs it and renames it over the old one."""
    lines = []
    if index.latest is not None:
        lines.append(f'model_checkpoint_path: "{index.latest}"')
    lines += [f'all_model_checkpoint_paths: "{name}"' for name in index.all]
    lines += [f"all_model_checkpoint_timestamps: {stamp!r}" for stamp in index.timestamps]
    if index.last_preserved_timestamp is not None:
        lines.append(f"last_preserved_timestamp: {index.last_preserved_timestamp!r}")
    write_text_atomically(os.path.join(directory, INDEX_FILENAME), "\n".join(lines) + "\n")
