"""``decode_csv``: CSV lines to one tensor or array per column, with ``tf.io.decode_csv``'s rules.

A batch of lines is handed to ``pyarrow.csv`` in one call, so decode batches, not lines
(``dataset.batch(n).map(decode)``); a single line works but pays pyarrow's ~0.1 ms per call.
Only when pyarrow refuses the batch are the lines checked one by one, in plain Python, to
name the bad record, column and value.

Column types and defaults come from ``record_defaults``, typed by the same rules as
``make_csv_dataset``'s ``column_defaults`` (:func:`~torch_estimator.data.csv_schema.parse_default`).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import torch

from torch_estimator.data.csv_schema import CsvColumn, arrow_type, parse_default, parse_number
from torch_estimator.errors import message

__all__ = ["decode_csv"]

_THREADED_BYTES = 1 << 20  # below this, pyarrow's thread pool costs more than it saves


def decode_csv(records: str | Sequence[str] | np.ndarray, record_defaults: Sequence[Any], field_delim: str = ",",
               use_quote_delim: bool = True, na_value: str = "", select_cols: Sequence[int] | None = None) -> list[Any]:
    """Parses CSV lines into one value per column, with ``tf.io.decode_csv``'s rules.

    ``record_defaults`` gives each column its type *and* its default, one entry per column:
    ``[0.0]`` float32, ``[0]`` int64, ``[""]`` or ``["nokey"]`` string, a numpy scalar for its
    own type (``[np.int32(0)]``, ``[np.float64(0)]``); an empty list ``[]`` is a required
    float32 column, and a dtype or type (``torch.int64``, ``str``) a required column of that
    type. One deliberate difference: TensorFlow read ``[0]`` as int32; here it is int64, as in
    ``make_csv_dataset``, because PyTorch's losses and embeddings want int64 labels and ids. An empty field,
    or one equal to ``na_value``, takes the default (or is an error when required). Numbers may
    have spaces around them (``" 501"``); strings keep theirs (``" house"``), as TensorFlow's
    do. Quotes follow RFC 4180 unless ``use_quote_delim=False``.

    Numeric columns come back as torch tensors, string columns as numpy object arrays of
    ``str``; a single record (a ``str``) gives 0-d tensors and plain ``str``.

    Args:
        records: One line, or a list / 1-d array of lines (all with the same columns).
        record_defaults: Types and defaults, as above; with ``select_cols``, one per selected
            column.
        field_delim: The one-character field separator.
        use_quote_delim: Whether double quotes delimit fields.
        na_value: A string that also means "missing".
        select_cols: Sorted column indices to return; the others are not converted.

    Returns:
        A list with one tensor or array per column.

    Raises:
        ValueError: A record has the wrong number of fields, a field is not a number of its
            column's type, or a required field is missing; the message names the record, the
            column and the value. Also for malformed arguments.
        TypeError: A ``record_defaults`` entry of an unsupported type.

    Example:
        >>> size, kind, price = decode_csv(["1001, house,  501", "2001,apt,"], [[0], [""], [0.0]])
        >>> size, kind, price
        (tensor([1001, 2001]), array([' house', 'apt'], dtype=object), tensor([501.,   0.]))
        >>> decode_csv("3000,house,1500", [[0], [""], [0.0]])
        [tensor(3000), 'house', tensor(1500.)]
    """
    typed = [_column_type(position, entry) for position, entry in enumerate(record_defaults)]
    selected = _selected_columns(select_cols, len(typed))
    columns = [CsvColumn(f"f{index}", index, dtype, default) for index, (dtype, default) in zip(selected, typed)]
    if not isinstance(field_delim, str) or len(field_delim) != 1:
        raise ValueError(message("field_delim must be one character", fix="Pass e.g. ',' or '\\t'",
                                 field_delim=field_delim))
    if not columns:
        raise ValueError(message("record_defaults is empty", expected="one entry per column",
                                 fix="Pass e.g. [[0.0], ['']]", record_defaults=record_defaults))
    shape = () if isinstance(records, (str, bytes)) else np.shape(records)
    lines = records if isinstance(records, list) else np.asarray(records, dtype=object).reshape(-1).tolist()
    if lines and not isinstance(lines[0], str):  # TensorFlow's records were bytes
        lines = [line.decode("utf-8") if isinstance(line, bytes) else line for line in lines]
    if not lines:
        return [_empty_column(column) for column in columns]
    table = _parse(lines, columns, field_delim, use_quote_delim, na_value)
    values = [_finish(table.column(i), column, lines) for i, column in enumerate(columns)]
    if len(shape) == 1:
        return values
    return [value[0] for value in values] if not shape else [value.reshape(shape) for value in values]


def _column_type(position: int, entry: Any) -> tuple[str, Any]:
    """``(dtype, default)`` of one ``record_defaults`` entry; errors name its position and show it whole."""

    def unsupported(_value: Any) -> TypeError:
        return TypeError(message(f"record_defaults[{position}] has an unsupported type",
                                 expected="a float, int or str default ([0.0], [0], ['']), an empty list for a "
                                          "required float32 column, or a dtype/type for a required column",
                                 fix="Use one of those", entry=entry))

    def several(value: Any) -> ValueError:
        count = len(value) if isinstance(value, (list, tuple)) else value.size
        return ValueError(message(f"record_defaults[{position}] has {count} values",
                                  expected="at most one default per column", fix="Pass e.g. [0.0]", entry=entry))

    return parse_default(entry, unsupported, several)


def _selected_columns(select_cols: Sequence[int] | None, count: int) -> list[int]:
    if select_cols is None:
        return list(range(count))
    selected = list(select_cols)
    if len(selected) != count or selected != sorted(set(selected)) or (selected and selected[0] < 0):
        raise ValueError(message("select_cols must be sorted, distinct, non-negative column indices, one per "
                                 "record_defaults entry", expected=f"{count} indices",
                                 fix="Sort the indices and give one default per selected column",
                                 select_cols=select_cols))
    return selected


def _parse(lines: list[str], columns: list[CsvColumn], field_delim: str, use_quote_delim: bool,
           na_value: str) -> pa.Table:
    """One pyarrow call for all lines; on any failure, finds the bad record to name it."""
    data = "\n".join(lines).encode("utf-8")
    names = [column.name for column in columns]  # pyarrow's autogenerated names: f0, f1, ...
    read = pa_csv.ReadOptions(use_threads=len(data) > _THREADED_BYTES,
                              **({"column_names": names} if _all_selected(columns)
                                 else {"autogenerate_column_names": True}))
    parse = pa_csv.ParseOptions(delimiter=field_delim, quote_char='"' if use_quote_delim else False,
                                newlines_in_values=False, ignore_empty_lines=False)
    convert = pa_csv.ConvertOptions(column_types={c.name: arrow_type(c.dtype) for c in columns},
                                    include_columns=names, null_values=sorted({"", na_value}),
                                    strings_can_be_null=True, quoted_strings_can_be_null=True)
    failure = None
    try:
        # An empty record would parse as a row of nulls (then defaults); TensorFlow rejects it.
        if "" not in lines:
            table = pa_csv.read_csv(pa.py_buffer(data), read_options=read, parse_options=parse,
                                    convert_options=convert)
            if table.num_rows == len(lines):  # not so when a record holds a line break
                return table
    except pa.ArrowException as error:
        failure = error
    _raise_bad_record(lines, columns, field_delim, use_quote_delim, na_value)
    raise ValueError(message("decode_csv could not parse the records", fix="Check the records' format",
                             reason=str(failure), first_record=lines[0]))


def _raise_bad_record(lines: list[str], columns: list[CsvColumn], field_delim: str, use_quote_delim: bool,
                      na_value: str) -> None:
    """The slow path, run only after pyarrow failed: checks records one by one, raises on the first bad one."""
    # Not CsvFormat.split_line: that keeps the first row and lets bad quotes pass, while a record
    # holding a line break or malformed quotes is one of the errors to name here (strict=True).
    dialect = {"delimiter": field_delim, "quotechar": '"', "doublequote": True, "strict": True,
               "quoting": csv.QUOTE_MINIMAL if use_quote_delim else csv.QUOTE_NONE}
    expected, where = len(columns), "one per record_defaults entry"
    last = columns[-1].index
    for number, line in enumerate(lines):
        try:
            rows = list(csv.reader([line], **dialect)) if line else [[]]
        except csv.Error:
            rows = [[], []]
        fields = rows[0] if len(rows) == 1 else None
        if number == 0 and fields is not None and not _all_selected(columns):
            # With select_cols, pyarrow takes the column count from the first record.
            expected, where = ((len(fields), "as in record 0") if len(fields) > last else
                               (last + 1, f"or more, since select_cols includes column {last}"))
        if fields is None or len(fields) != expected:
            count = "a line break or malformed quotes" if fields is None else f"{len(fields)} fields"
            raise ValueError(message(f"CSV record {number} has {count}",
                                     expected=f"{expected} fields separated by {field_delim!r}, {where}",
                                     fix="Fix the data, or pass one record_defaults entry per column",
                                     record=line))
        for position, column in enumerate(columns):
            field = fields[column.index]
            if column.numeric and field not in ("", na_value) and not _is_number(field, column.dtype):
                raise ValueError(message(f"Field {column.index} of CSV record {number} is not a valid {column.dtype}",
                                         expected=f"a number, since record_defaults[{position}] is {column.dtype}",
                                         fix=f"Fix the data, or read the column as text with "
                                             f"record_defaults[{position}] = ['']",
                                         value=field, record=line))


def _all_selected(columns: list[CsvColumn]) -> bool:
    return [column.index for column in columns] == list(range(len(columns)))


def _is_number(field: str, dtype: str) -> bool:
    """Whether pyarrow's CSV reader reads ``field`` as a number of type ``dtype`` (spaces around allowed)."""
    if dtype.startswith("int") and field.strip().startswith("+"):
        # pyarrow refuses "+5" as an integer; parse_number, make_csv_dataset's row-by-row
        # fallback parser, accepts it (and so reads "+5" as 5 there with ignore_errors=True).
        return False
    try:
        parse_number(field, dtype)
    except ValueError:
        return False
    return True


def _finish(values: pa.ChunkedArray, column: CsvColumn, lines: list[str]) -> Any:
    """Fills missing fields with the column's default and converts to a tensor or array."""
    if values.null_count:
        if column.default is None:
            number = values.is_null().to_numpy(zero_copy_only=False).argmax()
            raise ValueError(message(f"Field {column.index} is required but missing in CSV record {number}",
                                     expected="a value, since its record_defaults entry has no default",
                                     fix="Give the column a default, e.g. [0.0] or ['']", record=lines[number]))
        values = values.fill_null(pa.scalar(column.default, arrow_type(column.dtype)))
    if not column.numeric:
        return values.to_numpy(zero_copy_only=False)
    array = values.to_numpy()
    # Not columns.to_column: that applies the project's float64-to-float32 rule, while
    # decode_csv keeps the dtype record_defaults asked for ([np.float64(0)]), as TensorFlow does.
    # Arrow owns the zero-copy buffer and it is read-only; tensors must own writable memory.
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def _empty_column(column: CsvColumn) -> Any:
    if not column.numeric:
        return np.array([], dtype=object)
    return torch.from_numpy(np.array([], dtype=column.dtype))
