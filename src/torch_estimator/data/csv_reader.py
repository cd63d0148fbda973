"""Reading one CSV piece into column chunks with pyarrow's streaming reader.

The fast path gives pyarrow every column's type, so numbers are parsed in C++ one block at a
time (``pyarrow.csv.open_csv``; the file is never loaded whole) and only the selected columns
are converted. Then, per block: missing values take their column's default, a missing value in
a required column marks the row bad, and the piece's share of records is kept (gzip files
split between pipelines keep every n-th record).

A block pyarrow refuses (a wrong field count, an unparsable number) is:

* ``ignore_errors=False``: an error naming the file, the line and the column
  (:func:`~torch_estimator.data.csv_errors.bad_row_error`);
* ``ignore_errors=True``: rows with the wrong field count are skipped by pyarrow and counted;
  on an unparsable number the piece is read again from its start with numeric columns as text,
  the records already delivered are skipped, and numbers are parsed here so that only the bad
  rows are dropped (and counted).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from torch_estimator.data.columns import Chunk, arrow_to_numpy, to_column
from torch_estimator.data.csv_errors import bad_row_error
from torch_estimator.data.csv_schema import CsvFormat, CsvSchema, arrow_type, parse_number
from torch_estimator.data.files import open_bytes
from torch_estimator.data.sharding import CsvPiece
from torch_estimator.data.source import ReadStats

__all__ = ["BLOCK_SIZE", "PROBE_BLOCK_SIZE", "CsvReader"]

# pyarrow's unit of parsing. pyarrow reads ~32 blocks ahead, so memory grows with the block;
# smaller blocks cost more per-block overhead (measured in benchmarks/csv_input.py).
BLOCK_SIZE = 1 << 19
# Creating a dataset parses one block to infer or check types; a small one keeps that cheap.
PROBE_BLOCK_SIZE = 1 << 18


class _InvalidRows:
    """pyarrow's invalid-row handler: counts rows with the wrong field count; skips or fails."""

    def __init__(self, skip: bool) -> None:
        self.skip = skip
        self.count = 0

    def __call__(self, row: Any) -> str:
        self.count += 1
        return "skip" if self.skip else "error"


class CsvReader:
    """Reads :class:`~torch_estimator.data.sharding.CsvPiece` s of files with one schema.

    Args:
        schema: The columns (names, selected columns, dtypes, defaults).
        fmt: Delimiter, quoting, missing values, header, ``ignore_errors``.
        block_size: Bytes pyarrow parses at a time (default ``BLOCK_SIZE``, read when the reader
            is created).

    Example:
        >>> from torch_estimator.data.csv_schema import CsvColumn
        >>> _ = open("two.csv", "w").write("x,y\\n1,a\\n,b\\n")
        >>> schema = CsvSchema(("x", "y"), (CsvColumn("x", 0, "float32", -1.0), CsvColumn("y", 1, "string", "")))
        >>> list(CsvReader(schema, CsvFormat()).read(CsvPiece("two.csv", skip_header=True), ReadStats()))
        [{'x': tensor([ 1., -1.]), 'y': array(['a', 'b'], dtype=object)}]
    """

    def __init__(self, schema: CsvSchema, fmt: CsvFormat, block_size: int | None = None) -> None:
        self._schema = schema
        self._fmt = fmt
        self._block_size = block_size or BLOCK_SIZE
        self._types = {column.name: arrow_type(column.dtype) for column in schema.columns}
        self._text_types = {column.name: pa.string() for column in schema.columns}

    def read(self, piece: CsvPiece, stats: ReadStats) -> Iterator[Chunk]:
        """Yields the chunks of ``piece``, one per parsed block (blocks left empty are skipped)."""
        invalid = _InvalidRows(skip=self._fmt.ignore_errors)
        records = 0  # records parsed from the piece so far, before any row is dropped
        try:
            for batch in self._batches(piece, self._types, invalid):
                chunk = self._chunk(batch, piece, records, stats, as_text=False)
                records += batch.num_rows
                if chunk is not None:
                    yield chunk
        except pa.ArrowInvalid as error:
            if not self._fmt.ignore_errors:
                raise bad_row_error(piece, self._schema, self._fmt, records, str(error)) from None
            # The re-read parses the piece from its first line, so it recounts every bad row.
            invalid = _InvalidRows(skip=True)
            yield from self._read_as_text(piece, records, stats, invalid)
        stats.bad_rows += invalid.count

    def _read_as_text(self, piece: CsvPiece, done: int, stats: ReadStats, invalid: _InvalidRows) -> Iterator[Chunk]:
        """The rest of ``piece`` after ``done`` records, numbers parsed here row by row if needed."""
        records = 0
        for batch in self._batches(piece, self._text_types, invalid):
            rows = batch.num_rows
            if records + rows > done:
                start = max(0, done - records)
                chunk = self._chunk(batch.slice(start), piece, records + start, stats, as_text=True)
                if chunk is not None:
                    yield chunk
            records += rows

    def _batches(self, piece: CsvPiece, types: dict[str, pa.DataType], invalid: _InvalidRows
                 ) -> Iterator[pa.RecordBatch]:
        if piece.end is not None and piece.end <= piece.start:
            return
        stream = open_bytes(piece.path, piece.compression, piece.start, piece.end)
        try:
            reader = pa_csv.open_csv(
                stream,
                read_options=pa_csv.ReadOptions(column_names=list(self._schema.names),
                                                skip_rows=int(piece.skip_header), block_size=self._block_size),
                parse_options=self._fmt.parse_options(invalid),
                convert_options=pa_csv.ConvertOptions(
                    column_types=types, include_columns=list(types), null_values=self._fmt.null_values,
                    strings_can_be_null=True, quoted_strings_can_be_null=True))
            yield from reader
        except pa.ArrowInvalid as error:
            if "Empty CSV file" not in str(error):  # a header-only file or an empty range: no rows
                raise
        finally:
            stream.close()

    def _chunk(self, batch: pa.RecordBatch, piece: CsvPiece, first_record: int, stats: ReadStats,
               as_text: bool) -> Chunk | None:
        """Defaults filled, bad rows dropped (or raised), this pipeline's records kept."""
        columns: dict[str, np.ndarray] = {}
        bad: np.ndarray | None = None
        for column in self._schema.columns:
            array = batch.column(column.name)
            if as_text and column.numeric:
                values, missing, unparsable = _parse_numbers(array, column.dtype)
                if unparsable is not None:
                    bad = unparsable if bad is None else bad | unparsable
            else:
                values, missing = arrow_to_numpy(array)
            if missing is not None:
                if column.default is None:
                    bad = missing if bad is None else bad | missing
                else:
                    values = values.copy()  # Arrow's memory is read-only
                    values[missing] = column.default
            columns[column.name] = values
        keep = None
        if bad is not None and bad.any():
            if not self._fmt.ignore_errors:
                first_bad = first_record + int(np.argmax(bad))
                raise bad_row_error(piece, self._schema, self._fmt, first_bad, "a value is missing or unparsable")
            stats.bad_rows += int(bad.sum())
            keep = ~bad
        if piece.stride > 1:
            mine = (np.arange(first_record, first_record + batch.num_rows) - piece.offset) % piece.stride == 0
            keep = mine if keep is None else keep & mine
        if keep is not None:
            columns = {name: values[keep] for name, values in columns.items()}
        if not columns or not len(next(iter(columns.values()))):
            return None
        return {name: to_column(values) for name, values in columns.items()}


def _parse_numbers(text: pa.Array, dtype: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """A text column as ``(numbers, missing, unparsable)`` masks (None: no such rows)."""
    trimmed = pc.utf8_trim_whitespace(text)
    try:
        return (*arrow_to_numpy(pc.cast(trimmed, arrow_type(dtype))), None)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass  # some value is bad: find which, one by one (only blocks with bad values get here)
    rows = len(text)
    values = np.zeros(rows, dtype=np.dtype(dtype))
    missing, bad = np.zeros(rows, dtype=bool), np.zeros(rows, dtype=bool)
    for row, value in enumerate(trimmed.to_pylist()):
        if value is None:
            missing[row] = True
            continue
        try:
            values[row] = parse_number(value, dtype)
        except ValueError:
            bad[row] = True
    return values, (missing if missing.any() else None), bad
