"""Finding and describing a malformed CSV row: its file, its line, its column, what is wrong.

pyarrow parses a block (about a megabyte) at a time and reports a bad value by column, not by
line. When a block fails, the reader knows how many records came before it; this module reads
the piece again as plain lines from that record on (error path only, so plain Python is fine)
and returns the first line that breaks a rule, as the error to raise.

With one record per line (``newlines_in_values=False``, as the reader parses) and blank lines
skipped (as pyarrow skips them), record ``k`` of a piece is its ``k``-th non-empty line.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator

from torch_estimator.data.csv_schema import CsvColumn, CsvFormat, CsvSchema, parse_number
from torch_estimator.data.sharding import CsvPiece
from torch_estimator.errors import message

__all__ = ["bad_row_error"]

_FIX = "Fix or remove the row, or pass ignore_errors=True to skip malformed rows (they are counted and logged)"
_SHOWN_CHARS = 200
_COUNT_BYTES = 1 << 20


def bad_row_error(piece: CsvPiece, schema: CsvSchema, fmt: CsvFormat, from_record: int, cause: str) -> ValueError:
    """The error for the first malformed record of ``piece`` at or after record ``from_record``.

    Args:
        piece: The piece being read.
        schema: Its columns.
        fmt: Its format.
        from_record: Records of the piece known to be good (0-based index of the first suspect).
        cause: pyarrow's message, used when no rule explains the failure.

    Example:
        >>> _ = open("bad.csv", "w").write("a,b\\n1,2\\n3,x\\n")
        >>> schema = CsvSchema(("a", "b"), (CsvColumn("a", 0, "int64", 0), CsvColumn("b", 1, "int64", 0)))
        >>> print(bad_row_error(CsvPiece("bad.csv", skip_header=True), schema, CsvFormat(), 0, ""))
        ... # doctest: +ELLIPSIS
        Malformed CSV row in 'bad.csv', line 3, column 'b' (field 2): the value is not a valid int64. ...
    """
    for record, (line, text) in enumerate(_records(piece)):
        if record < from_record:
            continue
        problem = _problem(text, schema, fmt)
        if problem is not None:
            where, what, expected, received = problem
            return ValueError(message(f"Malformed CSV row in {piece.path!r}, line {line}, {where}: {what}",
                                      expected=expected, fix=_FIX, **received))
    return ValueError(message(f"Could not read CSV file {piece.path!r} past record {from_record} of the part read",
                              fix=_FIX, error=cause))


def _problem(text: str, schema: CsvSchema, fmt: CsvFormat) -> tuple[str, str, str, dict] | None:
    """``(where, what, expected, received)`` for the first rule ``text`` breaks, or None."""
    fields = fmt.split_line(text)
    names = schema.names
    if len(fields) != len(names):
        if len(fields) < len(names):
            where = f"column {names[len(fields)]!r} (field {len(fields) + 1})"
        else:
            where = f"field {len(names) + 1} (after the last column {names[-1]!r})"
        return (where, f"the line has {len(fields)} fields but there are {len(names)} columns",
                f"one field per column: {list(names)}", {"line": _shown(text)})
    for column in schema.columns:
        raw = fields[column.index]
        where = f"column {column.name!r} (field {column.index + 1})"
        if raw in fmt.null_values:
            if column.default is None:
                return (where, "the value is missing but the column is required",
                        "a value in every row: column_defaults gives this column no default ([] or a dtype)",
                        {"value": raw})
        elif column.numeric and not _parses(raw, column):
            return (where, f"the value is not a valid {column.dtype}",
                    f"a number of type {column.dtype} (spaces around it are allowed), or one of "
                    f"{fmt.null_values} for a missing value", {"value": _shown(raw)})
    return None


def _parses(raw: str, column: CsvColumn) -> bool:
    try:
        parse_number(raw, column.dtype)
    except ValueError:
        return False
    return True


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


def _records(piece: CsvPiece) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of every non-empty line of ``piece`` after its header."""
    line = _first_line_number(piece)
    position = piece.start
    opener = gzip.open if piece.compression == "gzip" else open
    with opener(piece.path, "rb") as file:
        if piece.start:
            file.seek(piece.start)
        for raw in file:
            if piece.end is not None and position >= piece.end:
                return
            position += len(raw)
            number, line = line, line + 1
            if piece.skip_header and number == 1:
                continue
            text = raw.rstrip(b"\n").rstrip(b"\r")
            if text:
                yield number, text.decode("utf-8", errors="replace")


def _first_line_number(piece: CsvPiece) -> int:
    """The 1-based line number of the first line of ``piece`` (counts newlines before its start)."""
    if not piece.start:
        return 1
    newlines, remaining = 0, piece.start
    with open(piece.path, "rb") as file:
        while remaining:
            block = file.read(min(remaining, _COUNT_BYTES))
            if not block:
                break
            newlines += block.count(b"\n")
            remaining -= len(block)
    return newlines + 1
