"""The contract between a file format (CSV, Parquet) and :class:`StreamingDataset`.

A source knows its files and columns; the dataset knows batching, epochs, shuffling, resuming
and prefetching. A new format is a new source, nothing more.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from torch_estimator.data.columns import Chunk

__all__ = ["ReadStats", "RowSource"]


@dataclasses.dataclass
class ReadStats:
    """Counts kept while reading one epoch: malformed rows skipped (``ignore_errors=True``)."""

    bad_rows: int = 0


class RowSource(Protocol):
    """Reads a format's files as column chunks, split into pieces for sharding."""

    def pieces(self, num_parts: int, part: int) -> Sequence[Any]:
        """The pieces (files, byte ranges, row groups) that part ``part`` of ``num_parts`` reads."""

    def read(self, piece: Any, stats: ReadStats) -> Iterator[Chunk]:
        """The rows of one piece, in file order, as chunks of columns."""

    def describe(self) -> dict[str, Any]:
        """A JSON-able description of the files (paths and sizes) and reading options."""
