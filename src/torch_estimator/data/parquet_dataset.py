"""``make_parquet_dataset``: Parquet files streamed by row group, with the CSV dataset's batching.

TensorFlow had no Parquet reader; this one follows ``make_csv_dataset``'s arguments and
behaviour (labels, epochs, shuffling, sharding, resuming). Files are read one row group at a
time and only the selected columns are decoded (pyarrow's column projection), in record
batches of at most ``READ_ROWS`` rows, so memory is bounded by a row group's compressed
column chunks, not by the file.

Types: integers and floats become tensors (float64 as float32), booleans bool tensors,
strings (plain or dictionary-encoded) numpy arrays of ``str``. Missing values: NaN in float
columns, ``""`` in string columns; in integer and boolean columns, which have no missing value,
they are an error naming the file, row group and column.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from torch_estimator.data.columns import Chunk, arrow_to_numpy, to_column
from torch_estimator.data.files import FilePattern, describe_files, match_files
from torch_estimator.data.sharding import ParquetPiece, parquet_pieces
from torch_estimator.data.source import ReadStats
from torch_estimator.data.streaming_dataset import Batching, StreamingDataset
from torch_estimator.errors import message

__all__ = ["ParquetSource", "make_parquet_dataset"]

READ_ROWS = 65536  # rows decoded at a time within a row group


class ParquetSource:
    """Parquet files with the same columns, as a :class:`~torch_estimator.data.source.RowSource`.

    Args:
        files: Sorted paths.
        columns: The columns read, in file order.

    Example:
        >>> pq.write_table(pa.table({"x": [1.0, 2.0], "y": [0, 1]}), "xy.parquet")
        >>> source = ParquetSource(["xy.parquet"], ["y"])
        >>> [chunk["y"].tolist() for piece in source.pieces(1, 0) for chunk in source.read(piece, ReadStats())]
        [[0, 1]]
    """

    def __init__(self, files: Sequence[str], columns: Sequence[str]) -> None:
        self._files = list(files)
        self._columns = list(columns)

    def pieces(self, num_parts: int, part: int) -> list[ParquetPiece]:
        return parquet_pieces(self._files, _row_group_count, num_parts, part)

    def read(self, piece: ParquetPiece, stats: ReadStats) -> Iterator[Chunk]:
        with pq.ParquetFile(piece.path) as file:
            groups = range(file.num_row_groups) if piece.row_groups is None else piece.row_groups
            for group in groups:
                rows = file.metadata.row_group(group).num_rows
                low, high = rows * piece.part // piece.parts, rows * (piece.part + 1) // piece.parts
                done = 0  # rows of the group decoded so far
                for batch in file.iter_batches(batch_size=READ_ROWS, row_groups=[group], columns=self._columns):
                    start, stop = max(low - done, 0), min(high - done, batch.num_rows)
                    done += batch.num_rows
                    if start < stop:
                        yield self._chunk(batch.slice(start, stop - start), piece.path, group)
                    if done >= high:
                        break

    def describe(self) -> dict[str, Any]:
        return {"format": "parquet", "files": describe_files(self._files), "columns": self._columns}

    def _chunk(self, batch: pa.RecordBatch, path: str, group: int) -> Chunk:
        chunk: Chunk = {}
        for name in self._columns:
            array = batch.column(name)
            values, missing = arrow_to_numpy(array)
            if missing is not None:
                values = _fill(values, missing, name, path, group)
            chunk[name] = to_column(values)
        return chunk


def _fill(values: np.ndarray, missing: np.ndarray, name: str, path: str, group: int) -> np.ndarray:
    if values.dtype.kind == "f":
        values = values.copy()
        values[missing] = np.nan
        return values
    if values.dtype == object:
        values[missing] = ""
        return values
    raise ValueError(message(
        f"Parquet column {name!r} has missing values in {path!r}, row group {group}",
        expected="no nulls in integer and boolean columns (they have no missing-value marker)",
        fix="Fill the nulls when writing the file, or store the column as float (nulls become NaN)",
        nulls=int(missing.sum())))


def _row_group_count(path: str) -> int:
    return pq.ParquetFile(path).metadata.num_row_groups


def _selected(schema: pa.Schema, select_columns: Sequence[int | str] | None, label_name: str | None,
              path: str) -> list[str]:
    """The selected column names in file order, each checked to exist and to have a tensor type."""
    names = schema.names
    if select_columns is None:
        selected = list(names)
    else:
        if isinstance(select_columns, (str, bytes)) or not isinstance(select_columns, Sequence):
            raise TypeError(message("select_columns must be a list", expected="column names or indices",
                                    select_columns=select_columns))
        indices = set()
        for entry in select_columns:
            if isinstance(entry, numbers.Integral) and not isinstance(entry, bool) and 0 <= entry < len(names):
                indices.add(int(entry))
            elif entry in names:
                indices.add(names.index(entry))
            else:
                raise ValueError(message(f"select_columns names an unknown column {entry!r}",
                                         expected=f"names from {names} or indices below {len(names)}",
                                         fix=f"Check the spelling against the columns of {path!r}",
                                         select_columns=list(select_columns)))
        selected = [names[index] for index in sorted(indices)]
    for name in selected:
        kind = schema.field(name).type
        kind = kind.value_type if pa.types.is_dictionary(kind) else kind
        if not any(check(kind) for check in (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean,
                                             pa.types.is_string, pa.types.is_large_string)):
            raise TypeError(message(f"Parquet column {name!r} has a type with no tensor equivalent",
                                    expected="integers, floats, booleans or strings",
                                    fix="Leave it out with select_columns, or convert it when writing",
                                    type=str(kind)))
    if label_name is not None and label_name not in selected:
        raise ValueError(message("label_name is not one of the columns", expected=f"one of {selected}",
                                 fix="Check the name against the file's columns and select_columns",
                                 label_name=label_name))
    return selected


def make_parquet_dataset(
    file_pattern: FilePattern,
    batch_size: int,
    label_name: str | None = None,
    select_columns: Sequence[int | str] | None = None,
    num_epochs: int | None = None,
    shuffle: bool = True,
    shuffle_buffer_size: int = 10000,
    shuffle_seed: int | None = None,
    input_context: Any = None,
) -> StreamingDataset:
    """Reads Parquet files into a dataset of ``(features, labels)`` batches, streaming.

    The arguments and behaviour of :func:`~torch_estimator.data.make_csv_dataset`, for
    Parquet: read by row group, only the selected columns decoded.

    Args:
        file_pattern: A glob or a list of globs/paths (sorted; a pattern matching nothing is an
            error). Every file must have the selected columns with the same types.
        batch_size: Rows per batch.
        label_name: The column returned as ``labels``; None yields features alone.
        select_columns: Names or indices of the columns to read; None reads all.
        num_epochs: Passes over the data; None repeats forever.
        shuffle: Whether to shuffle the file order and the rows (through the buffer).
        shuffle_buffer_size: Rows in the shuffle buffer.
        shuffle_seed: Seed of the shuffle; None draws one from torch's global RNG now.
        input_context: An ``est.InputContext``: read only this pipeline's share (by file,
            else by row group, else by slices of row groups).

    Returns:
        A resumable, re-iterable :class:`~torch_estimator.data.streaming_dataset.StreamingDataset`.

    Raises:
        ValueError: At creation: no file matches; an unknown column in ``select_columns``;
            ``label_name`` not selected; files with different columns; a non-positive
            ``batch_size``. While iterating: nulls in an integer or boolean column.
        TypeError: A selected column of a type with no tensor equivalent (lists, dates...).

    Example:
        >>> pq.write_table(pa.table({"rooms": [3, 2, 4], "price": [250.0, 180.0, 320.0]}), "homes.parquet")
        >>> dataset = make_parquet_dataset("homes.parquet", batch_size=2, label_name="price", num_epochs=1,
        ...                                shuffle=False)
        >>> [(features["rooms"].tolist(), labels.tolist()) for features, labels in dataset]
        [([3, 2], [250.0, 180.0]), ([4], [320.0])]
    """
    batching = Batching(batch_size, num_epochs, shuffle, shuffle_buffer_size, shuffle_seed)
    files = match_files(file_pattern)
    first = pq.read_schema(files[0])
    columns = _selected(first, select_columns, label_name, files[0])
    wanted = [f"{name}: {first.field(name).type}" for name in columns]
    for path in files[1:]:
        schema = pq.read_schema(path)
        differing = [name for name in columns
                     if name not in schema.names or schema.field(name).type != first.field(name).type]
        if differing:
            raise ValueError(message(
                f"Parquet file {path!r} does not have the same columns as {files[0]!r}",
                expected=f"every selected column with the same type: {wanted}",
                fix="Read the files as separate datasets, or select only the columns they share",
                differing=differing))
    return StreamingDataset(ParquetSource(files, columns), batching, label_name, input_context)
