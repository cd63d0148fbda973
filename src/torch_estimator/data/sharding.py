"""Which part of the files each input pipeline reads.

Every pipeline computes its own part from the same sorted file list, so no coordination is
needed, and the parts are disjoint and cover every row once:

* files >= pipelines: file ``j`` goes to pipeline ``j % num_pipelines`` (TensorFlow's
  ``dataset.shard`` on the file list).
* fewer files than pipelines, CSV: each file is cut into ``num_pipelines`` byte ranges whose
  edges are moved forward to the next line start, so a line belongs to the range holding its
  first byte. The cut of range ``k`` is the start of range ``k + 1``, computed the same way on
  every pipeline, so no line is lost or read twice. Gzip streams cannot be entered in the middle:
  every pipeline reads the whole file and keeps every ``num_pipelines``-th record.
* fewer files than pipelines, Parquet: row groups (over all files, in order) go round-robin to
  pipelines; with fewer row groups than pipelines, every pipeline reads its equal slice of
  each row group's rows.

Byte ranges assume that quoted fields contain no line breaks, which is also what the parser
assumes (pyarrow's ``newlines_in_values=False``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

__all__ = ["CsvPiece", "ParquetPiece", "csv_pieces", "parquet_pieces", "worker_split"]

_SCAN_BYTES = 1 << 16


@dataclasses.dataclass(frozen=True)
class CsvPiece:
    """A part of one CSV file read by one pipeline.

    Attributes:
        path: The file.
        compression: The pyarrow codec (``"gzip"``) or None.
        start: First byte read (uncompressed files; past the header for ranges after the first).
        end: One past the last byte read; None reads to the end of the file.
        skip_header: Whether the first line of what is read is a header to skip.
        stride: Keep every ``stride``-th record ...
        offset: ... beginning with record ``offset`` (how gzip files are split).
    """

    path: str
    compression: str | None = None
    start: int = 0
    end: int | None = None
    skip_header: bool = False
    stride: int = 1
    offset: int = 0


@dataclasses.dataclass(frozen=True)
class ParquetPiece:
    """Row groups of one Parquet file read by one pipeline.

    Attributes:
        path: The file.
        row_groups: Indices of the row groups read; None reads them all.
        part: Which of ``parts`` equal row slices of each row group is kept.
        parts: How many slices each row group is cut into (1: whole row groups).
    """

    path: str
    row_groups: tuple[int, ...] | None = None
    part: int = 0
    parts: int = 1


def worker_split(num_pipelines: int, pipeline_id: int, worker: tuple[int, int] | None) -> tuple[int, int]:
    """Splits a pipeline further among a DataLoader's worker processes.

    Args:
        num_pipelines: Pipelines from the ``InputContext`` (1 without one).
        pipeline_id: This pipeline's index.
        worker: ``(num_workers, worker_id)`` inside a DataLoader worker, else None.

    Returns:
        The ``(num_parts, part)`` this process reads.

    Example:
        >>> worker_split(2, 1, (3, 0)), worker_split(2, 1, None)
        ((6, 3), (2, 1))
    """
    if worker is None or worker[0] <= 1:
        return num_pipelines, pipeline_id
    num_workers, worker_id = worker
    return num_pipelines * num_workers, pipeline_id * num_workers + worker_id


def csv_pieces(files: Sequence[str], compressions: Sequence[str | None], header: bool,
               num_parts: int, part: int) -> list[CsvPiece]:
    """The CSV pieces pipeline ``part`` of ``num_parts`` reads (see the module docstring).

    Example:
        >>> _ = open("one.csv", "w").write("x\\n" + "".join(f"{i}\\n" for i in range(10)))
        >>> [(p.start, p.end) for p in csv_pieces(["one.csv"], [None], True, 3, 1)]
        [(8, 16)]
    """
    if len(files) >= num_parts:
        return [CsvPiece(path, compression, skip_header=header)
                for j, (path, compression) in enumerate(zip(files, compressions)) if j % num_parts == part]
    pieces = []
    for path, compression in zip(files, compressions):
        if compression is not None:
            pieces.append(CsvPiece(path, compression, skip_header=header, stride=num_parts, offset=part))
            continue
        start, end = _byte_range(path, header, num_parts, part)
        pieces.append(CsvPiece(path, None, start, end))
    return pieces


def _byte_range(path: str, header: bool, num_parts: int, part: int) -> tuple[int, int]:
    """Range ``part`` of ``num_parts``, both edges moved to line starts (and past the header)."""
    size = os.path.getsize(path)
    with open(path, "rb") as file:
        data_start = _line_start(file, 1, size) if header else 0
        span = size - data_start
        edges = [data_start + span * k // num_parts for k in (part, part + 1)]
        return tuple(data_start if edge <= data_start else _line_start(file, edge, size) for edge in edges)


def _line_start(file, position: int, size: int) -> int:
    """The first line start at or after ``position``: just past the newline at or after ``position - 1``."""
    if position <= 0:
        return 0
    file.seek(position - 1)
    scanned = position - 1
    while scanned < size:
        block = file.read(_SCAN_BYTES)
        newline = block.find(b"\n")
        if newline >= 0:
            return scanned + newline + 1
        scanned += len(block)
    return size


def parquet_pieces(files: Sequence[str], row_group_count: Callable[[str], int], num_parts: int,
                   part: int) -> list[ParquetPiece]:
    """The Parquet pieces pipeline ``part`` of ``num_parts`` reads (see the module docstring).

    Args:
        files: Sorted files.
        row_group_count: Returns a file's number of row groups (called only when there are
            fewer files than pipelines).
        num_parts: Pipelines.
        part: This pipeline.

    Example:
        >>> [(p.path, p.row_groups) for p in parquet_pieces(["a", "b"], {"a": 3, "b": 2}.get, 3, 1)]
        [('a', (1,)), ('b', (1,))]
    """
    if len(files) >= num_parts:
        return [ParquetPiece(path) for j, path in enumerate(files) if j % num_parts == part]
    counts = {path: row_group_count(path) for path in files}
    if sum(counts.values()) < num_parts:
        return [ParquetPiece(path, tuple(range(count)), part, num_parts) for path, count in counts.items() if count]
    pieces, unit = [], 0
    for path, count in counts.items():
        mine = tuple(group for group in range(count) if (unit + group) % num_parts == part)
        unit += count
        if mine:
            pieces.append(ParquetPiece(path, mine))
    return pieces
