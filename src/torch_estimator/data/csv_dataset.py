"""``make_csv_dataset``: TensorFlow's ``tf.data.experimental.make_csv_dataset`` on pyarrow."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from torch_estimator.data.columns import Chunk
from torch_estimator.data import csv_reader
from torch_estimator.data.csv_reader import CsvReader
from torch_estimator.data.csv_schema import CsvFormat, CsvSchema, resolve_schema
from torch_estimator.data.files import FilePattern, compression_of, describe_files, match_files
from torch_estimator.data.sharding import CsvPiece, csv_pieces
from torch_estimator.data.source import ReadStats
from torch_estimator.data.streaming_dataset import Batching, StreamingDataset

__all__ = ["CsvSource", "make_csv_dataset"]


class CsvSource:
    """CSV files with one schema, as a :class:`~torch_estimator.data.source.RowSource`.

    Example:
        >>> _ = open("points.csv", "w").write("x,y\\n1,2\\n3,4\\n")
        >>> fmt = CsvFormat()
        >>> source = CsvSource(["points.csv"], [None], resolve_schema(["points.csv"], [None], fmt, None, None,
        ...                                                            None, None), fmt)
        >>> [chunk["y"].tolist() for piece in source.pieces(1, 0) for chunk in source.read(piece, ReadStats())]
        [[2, 4]]
    """

    def __init__(self, files: Sequence[str], compressions: Sequence[str | None], schema: CsvSchema,
                 fmt: CsvFormat) -> None:
        self._files = list(files)
        self._compressions = list(compressions)
        self._schema = schema
        self._fmt = fmt
        self._block_size = csv_reader.BLOCK_SIZE
        self._reader = CsvReader(schema, fmt, self._block_size)

    def pieces(self, num_parts: int, part: int) -> list[CsvPiece]:
        return csv_pieces(self._files, self._compressions, self._fmt.header, num_parts, part)

    def read(self, piece: CsvPiece, stats: ReadStats) -> Iterator[Chunk]:
        return self._reader.read(piece, stats)

    def describe(self) -> dict[str, Any]:
        fmt = self._fmt
        return {"format": "csv", "files": describe_files(self._files), "names": list(self._schema.names),
                "columns": self._schema.describe(), "field_delim": fmt.field_delim,
                "use_quote_delim": fmt.use_quote_delim, "na_value": fmt.na_value, "header": fmt.header,
                "compression_type": fmt.compression_type, "ignore_errors": fmt.ignore_errors,
                # Chunk edges depend on the block size, and the shuffle order on chunk edges.
                "block_size": self._block_size}

    def check_first_block(self) -> None:
        """Parses the first block of the first file, so bad types or rows fail at creation."""
        piece = CsvPiece(self._files[0], self._compressions[0], skip_header=self._fmt.header)
        chunks = CsvReader(self._schema, self._fmt, csv_reader.PROBE_BLOCK_SIZE).read(piece, ReadStats())
        try:
            next(chunks, None)
        finally:
            chunks.close()


def make_csv_dataset(
    file_pattern: FilePattern,
    batch_size: int,
    column_names: Sequence[str] | None = None,
    column_defaults: Sequence[Any] | None = None,
    label_name: str | None = None,
    select_columns: Sequence[int | str] | None = None,
    field_delim: str = ",",
    use_quote_delim: bool = True,
    na_value: str = "",
    header: bool = True,
    num_epochs: int | None = None,
    shuffle: bool = True,
    shuffle_buffer_size: int = 10000,
    shuffle_seed: int | None = None,
    compression_type: str | None = None,
    ignore_errors: bool = False,
    *,
    input_context: Any = None,
) -> StreamingDataset:
    """Reads CSV files into a dataset of ``(features, labels)`` batches, streaming.

    TensorFlow's ``tf.data.experimental.make_csv_dataset``, parsed by pyarrow one block at a
    time: files of any size are read in bounded memory, in a background thread that runs a few
    batches ahead of training. Return it from an ``input_fn`` (Estimator.train, evaluate,
    predict) or wrap it in ``torch.utils.data.DataLoader(dataset, batch_size=None)``.

    Args:
        file_pattern: A glob or a list of globs/paths (sorted, de-duplicated; a pattern that
            matches nothing is an error).
        batch_size: Rows per batch.
        column_names: Names of every column of a record, in order; None reads them from the
            header of the first file (every file's header must match).
        column_defaults: One entry per selected column: a default value (``0.0``, ``[0]``,
            ``["na"]``; missing values become it) or ``[]``/a dtype (``torch.float32``,
            ``torch.int64``, ``str``...) for a required column (a missing value is a malformed
            row). None infers types from the first block (ints, then floats, then strings), every
            column optional with default ``0``/``""``. Integers are int64 (TensorFlow: int32).
        label_name: The column returned as ``labels``; None yields features alone.
        select_columns: Names or indices of the columns to read (the others are not parsed).
        field_delim: The field delimiter (one character).
        use_quote_delim: Whether ``"`` quotes fields (RFC 4180). Quoted fields must not span lines.
        na_value: A field value read as missing (besides the empty field).
        header: Whether the first line of every file is a header (skipped as data).
        num_epochs: Passes over the data; None repeats forever.
        shuffle: Whether to shuffle the file order and the rows (through the buffer).
        shuffle_buffer_size: Rows in the shuffle buffer (memory; larger mixes better).
        shuffle_seed: Seed of the shuffle; None draws one from torch's global RNG now.
        compression_type: None (gzip when a name ends in ``.gz``), ``""`` or ``"GZIP"``.
        ignore_errors: Skip malformed rows (wrong field count, unparsable number, missing
            required value) instead of raising; their number is logged (WARNING, logger
            ``torch_estimator``) at the end of each epoch.
        input_context: An ``est.InputContext``: read only this pipeline's share (by file,
            else by byte range; gzip files by every n-th row).

    Returns:
        A :class:`~torch_estimator.data.streaming_dataset.StreamingDataset`: re-iterable,
        resumable (``state_dict``/``load_state_dict``), a ``torch.utils.data.IterableDataset``.

    Raises:
        ValueError: At creation: no file matches; no header and no ``column_names``; an unknown
            column in ``select_columns`` or ``label_name``; ``column_defaults`` of the wrong
            length; a non-positive ``batch_size``, ``num_epochs`` or ``shuffle_buffer_size``;
            an unsupported ``compression_type``; a malformed row in the first block. While
            iterating: a malformed row (file, line and column named) unless ``ignore_errors``.
        TypeError: A ``column_defaults`` entry or an argument of an unsupported type.

    Example:
        >>> _ = open("homes.csv", "w").write("sq_footage,type,price\\n1500,house,250\\n800,apt,120\\n")
        >>> dataset = make_csv_dataset("homes.csv", batch_size=2, label_name="price", num_epochs=1,
        ...                            shuffle=False)
        >>> features, labels = next(iter(dataset))
        >>> features["sq_footage"], features["type"], labels
        (tensor([1500,  800]), array(['house', 'apt'], dtype=object), tensor([250, 120]))
    """
    batching = Batching(batch_size, num_epochs, shuffle, shuffle_buffer_size, shuffle_seed)
    fmt = CsvFormat(field_delim, use_quote_delim, na_value, header, compression_type, ignore_errors)
    files = match_files(file_pattern)
    compressions = [compression_of(path, compression_type) for path in files]
    schema = resolve_schema(files, compressions, fmt, column_names, column_defaults, select_columns, label_name)
    source = CsvSource(files, compressions, schema, fmt)
    source.check_first_block()
    return StreamingDataset(source, batching, label_name, input_context)
