"""What a CSV dataset reads: its format options, its columns, their types and defaults.

Everything here runs when the dataset is created, so a wrong option, an unknown column or a
bad default fails before training starts, not mid-epoch. TensorFlow's rules for
``make_csv_dataset`` apply:

* column names come from ``column_names`` or from the header line of the first file (every
  file's header must then match it);
* ``column_defaults`` has one entry per selected column: a scalar default (the column is
  optional; missing values become it), or ``[]``/a dtype (the column is required);
* without ``column_defaults``, types are inferred from the first rows (integers, then floats,
  then strings), every column optional with default 0 or ``""``.

Two deliberate differences: integers are read as int64 (PyTorch's index and label type;
TensorFlow inferred int32), and inference looks at the first 256 KB of the first non-empty
file rather than its first 100 rows.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import torch

from torch_estimator.data.files import check_compression_type, open_bytes
from torch_estimator.errors import message

__all__ = ["CsvColumn", "CsvFormat", "CsvSchema", "arrow_type", "parse_default", "parse_number", "resolve_schema"]

_ARROW_TYPES = {"float32": pa.float32(), "float64": pa.float64(), "int32": pa.int32(), "int64": pa.int64(),
                "string": pa.string()}
_TORCH_DTYPES = {torch.float32: "float32", torch.float64: "float64", torch.int32: "int32", torch.int64: "int64"}
_HEADER_BYTES = 1 << 16
_INFERENCE_BYTES = 1 << 18  # rows inferred from (TensorFlow: 100 rows); pyarrow reads ~32 blocks ahead
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def arrow_type(dtype: str) -> pa.DataType:
    """The pyarrow type of a column dtype name ("float32", "int64", "string", ...).

    Example:
        >>> arrow_type("int64")
        DataType(int64)
    """
    return _ARROW_TYPES[dtype]


def parse_number(text: str, dtype: str) -> int | float:
    """Parses one field of a numeric column (spaces around it allowed, as in TensorFlow).

    Only used where pyarrow's vectorized parser refused a block, to find the bad values.

    Raises:
        ValueError: ``text`` is not a number of that type, or is out of its range.

    Example:
        >>> parse_number(" 42 ", "int32"), parse_number("1e3", "float32")
        (42, 1000.0)
    """
    text = text.strip()
    if "_" in text:  # Python accepts "1_000"; CSV parsers do not
        raise ValueError(f"{text!r} is not a number")
    if dtype in _INT_RANGES:
        value = int(text)
        low, high = _INT_RANGES[dtype]
        if not low <= value <= high:
            raise ValueError(f"{value} is out of the {dtype} range")
        return value
    return float(text)


@dataclasses.dataclass(frozen=True)
class CsvFormat:
    """How the bytes are split into fields (TensorFlow's argument names and defaults).

    Every problem is reported at once when the format is created.

    Example:
        >>> CsvFormat(field_delim=";").parse_options().delimiter
        ';'
    """

    field_delim: str = ","
    use_quote_delim: bool = True
    na_value: str = ""
    header: bool = True
    compression_type: str | None = None
    ignore_errors: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.field_delim, str) or len(self.field_delim) != 1 or self.field_delim in "\r\n\"":
            problems.append(message("field_delim must be one character", expected='e.g. "," or "\\t" or "|"',
                                    field_delim=self.field_delim))
        if not isinstance(self.na_value, str):
            problems.append(message("na_value must be a str", expected='e.g. "" or "NA"', na_value=self.na_value))
        for name in ("use_quote_delim", "header", "ignore_errors"):
            if not isinstance(getattr(self, name), bool):
                problems.append(message(f"{name} must be a bool", **{name: getattr(self, name)}))
        compression = check_compression_type(self.compression_type)
        if compression:
            problems.append(compression)
        if problems:
            raise ValueError(" ".join(problems))

    @property
    def null_values(self) -> list[str]:
        """Field values read as missing: the empty field and ``na_value``."""
        return sorted({"", self.na_value})

    def parse_options(self, invalid_row_handler: Any = None) -> pa_csv.ParseOptions:
        """pyarrow's options; one record per line (``newlines_in_values=False``), blank lines skipped."""
        return pa_csv.ParseOptions(delimiter=self.field_delim, quote_char='"' if self.use_quote_delim else False,
                                   double_quote=True, escape_char=False, newlines_in_values=False,
                                   ignore_empty_lines=True, invalid_row_handler=invalid_row_handler)

    def split_line(self, line: str) -> list[str]:
        """Fields of one line, by the same rules (used to read headers and to locate bad rows).

        Example:
            >>> CsvFormat().split_line('a,"b,c",d')
            ['a', 'b,c', 'd']
        """
        quoting = csv.QUOTE_MINIMAL if self.use_quote_delim else csv.QUOTE_NONE
        return next(csv.reader([line], delimiter=self.field_delim, quoting=quoting), [])


@dataclasses.dataclass(frozen=True)
class CsvColumn:
    """One selected column: its name, its field index in a record, its dtype and its default.

    ``default`` is None for a required column (a missing value is a malformed row).
    """

    name: str
    index: int
    dtype: str
    default: Any = None

    @property
    def numeric(self) -> bool:
        return self.dtype != "string"


@dataclasses.dataclass(frozen=True)
class CsvSchema:
    """Every column name of a record, and the selected columns (in record order)."""

    names: tuple[str, ...]
    columns: tuple[CsvColumn, ...]

    def describe(self) -> list[list[Any]]:
        """A JSON-able description (part of the dataset's fingerprint)."""
        return [[column.name, column.index, column.dtype, column.default] for column in self.columns]


def resolve_schema(files: Sequence[str], compressions: Sequence[str | None], fmt: CsvFormat,
                   column_names: Sequence[str] | None, column_defaults: Sequence[Any] | None,
                   select_columns: Sequence[int | str] | None, label_name: str | None) -> CsvSchema:
    """Works out the columns a dataset reads, checking every argument that names them.

    Raises:
        ValueError: No header and no ``column_names``; duplicate or mismatching names; an
            unknown or duplicate selected column; ``column_defaults`` of the wrong length or
            with a multi-value entry; ``label_name`` not among the selected columns.
        TypeError: A ``column_defaults`` entry of an unsupported type.

    Example:
        >>> _ = open("people.csv", "w").write("age,name,score\\n31,ann,0.5\\n")
        >>> schema = resolve_schema(["people.csv"], [None], CsvFormat(), None, None, ["age", "score"], "score")
        >>> [(c.name, c.dtype, c.default) for c in schema.columns]
        [('age', 'int64', 0), ('score', 'float32', 0.0)]
    """
    names = _column_names(files, compressions, fmt, column_names)
    indices = _selected_indices(select_columns, names)
    if column_defaults is not None:
        if isinstance(column_defaults, (str, bytes)) or not isinstance(column_defaults, Sequence):
            raise TypeError(message("column_defaults must be a list", expected="one entry per selected column",
                                    column_defaults=column_defaults))
        if len(column_defaults) != len(indices):
            raise ValueError(message(
                "column_defaults has the wrong length",
                expected=f"one entry per {'selected ' if select_columns is not None else ''}column ({len(indices)})",
                fix="Give one default per column, in column order ([] marks a required column)",
                column_defaults=list(column_defaults)))
        typed = [parse_default(entry, functools.partial(_default_type_error, column=names[index]),
                               functools.partial(_default_size_error, column=names[index]))
                 for entry, index in zip(column_defaults, indices)]
    else:
        typed = _infer_types(files, compressions, fmt, names, indices)
    columns = tuple(CsvColumn(names[index], index, dtype, default) for index, (dtype, default) in zip(indices, typed))
    if label_name is not None and label_name not in {column.name for column in columns}:
        raise ValueError(message(
            "label_name is not one of the columns", expected=f"one of {[column.name for column in columns]}",
            fix="Check the name against the header (or column_names) and select_columns", label_name=label_name))
    return CsvSchema(tuple(names), columns)


def _column_names(files: Sequence[str], compressions: Sequence[str | None], fmt: CsvFormat,
                  column_names: Sequence[str] | None) -> list[str]:
    if column_names is None:
        if not fmt.header:
            raise ValueError(message("Cannot infer column names without a header line",
                                     fix="Pass column_names=[...], or header=True if the files have one",
                                     header=fmt.header, column_names=None))
        names = _header(files[0], compressions[0], fmt)
        for path, compression in zip(files[1:], compressions[1:]):
            other = _header(path, compression, fmt)
            if other != names:
                raise ValueError(message("Files have different column names in the header row",
                                         expected=f"the header of {files[0]!r}: {names}",
                                         fix="Read them as separate datasets, or pass column_names",
                                         file=path, header=other))
    else:
        if isinstance(column_names, (str, bytes)) or not all(isinstance(name, str) for name in column_names):
            raise TypeError(message("column_names must be a list of str", column_names=column_names))
        names = list(column_names)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(message("Cannot have duplicate column names", fix="Rename them (or pass column_names)",
                                 duplicates=duplicates))
    return names


def _header(path: str, compression: str | None, fmt: CsvFormat) -> list[str]:
    """The fields of the first line of ``path``."""
    stream = open_bytes(path, compression)
    try:
        head = b""
        while b"\n" not in head:
            block = stream.read(_HEADER_BYTES)
            if not block:
                break
            head += block
    finally:
        stream.close()
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    if not line:
        raise ValueError(message("The header line is empty (empty file?)", expected="a first line naming the columns",
                                 fix="Remove the file, or pass header=False with column_names", file=path))
    return fmt.split_line(line.decode("utf-8-sig", errors="replace"))


def _selected_indices(select_columns: Sequence[int | str] | None, names: list[str]) -> list[int]:
    if select_columns is None:
        return list(range(len(names)))
    if isinstance(select_columns, (str, bytes)) or not isinstance(select_columns, Sequence):
        raise TypeError(message("select_columns must be a list", expected="column names or indices",
                                select_columns=select_columns))
    indices = []
    for entry in select_columns:
        if isinstance(entry, numbers.Integral) and not isinstance(entry, bool):
            if not 0 <= entry < len(names):
                raise ValueError(message("A column index in select_columns is out of range",
                                         expected=f"0 <= index < {len(names)}", select_columns=list(select_columns)))
            indices.append(int(entry))
        elif entry in names:
            indices.append(names.index(entry))
        else:
            raise ValueError(message(f"select_columns names an unknown column {entry!r}",
                                     expected=f"names from {names} or indices",
                                     fix="Check the spelling against the header or column_names",
                                     select_columns=list(select_columns)))
    if len(set(indices)) != len(indices):
        raise ValueError(message("select_columns contains duplicate columns", select_columns=list(select_columns)))
    return sorted(indices)


def parse_default(entry: Any, unsupported: Callable[[Any], Exception],
                  several: Callable[[Any], Exception]) -> tuple[str, Any]:
    """``(dtype, default)`` of one column's default entry; a None default means a required column.

    TensorFlow's typing of a default constant, shared by ``make_csv_dataset``'s
    ``column_defaults`` and ``decode_csv``'s ``record_defaults``: a float is float32, an int
    int64 (TensorFlow: int32), a str or bytes a string, a numpy scalar its own dtype, alone or
    in a one-element list, tuple, array or tensor; ``[]`` (TensorFlow's empty float constant) is
    a required float32 column, a dtype or type (``torch.int64``, ``np.float64``, ``str``) a
    required column of that type. Each caller words its own errors.

    Args:
        entry: The default entry.
        unsupported: Makes the error for a value of no supported type, given that value.
        several: Makes the error for a list, tuple or array of more than one value, given it.

    Raises:
        Exception: What ``unsupported`` or ``several`` made.

    Example:
        >>> parse_default([0], TypeError, ValueError), parse_default(torch.float64, TypeError, ValueError)
        (('int64', 0), ('float64', None))
    """
    if isinstance(entry, torch.dtype):
        if entry in _TORCH_DTYPES:
            return _TORCH_DTYPES[entry], None
        raise unsupported(entry)
    if isinstance(entry, (type, np.dtype)):
        if entry in (str, bytes):
            return "string", None
        if entry is float:
            return "float32", None
        if entry is int:
            return "int64", None
        return _numpy_dtype(entry, entry, unsupported), None
    if isinstance(entry, torch.Tensor):
        entry = entry.detach().cpu().numpy()
    if isinstance(entry, np.ndarray):
        if entry.size > 1:
            raise several(entry)
        if entry.dtype.kind == "O" and entry.size:  # holds a Python object: typed as that object
            return _scalar_default(entry.reshape(-1)[0], unsupported)
        dtype = "string" if entry.dtype.kind in "OUS" else _numpy_dtype(entry.dtype, entry, unsupported)
        return dtype, (_coerce(entry.reshape(-1)[0].item(), dtype) if entry.size else None)
    if isinstance(entry, (list, tuple)):
        if len(entry) > 1:
            raise several(entry)
        return ("float32", None) if not entry else parse_default(entry[0], unsupported, several)
    return _scalar_default(entry, unsupported)


def _scalar_default(entry: Any, unsupported: Callable[[Any], Exception]) -> tuple[str, Any]:
    if isinstance(entry, (bool, np.bool_)) or entry is None:
        raise unsupported(entry)
    # Before np.generic: numpy's str_ and bytes_ scalars are str and bytes.
    if isinstance(entry, bytes):
        return "string", bytes(entry).decode("utf-8")
    if isinstance(entry, str):
        return "string", str(entry)
    if isinstance(entry, np.generic):
        return _numpy_dtype(entry.dtype, entry, unsupported), entry.item()
    if isinstance(entry, numbers.Integral):
        return "int64", int(entry)
    if isinstance(entry, numbers.Real):
        return "float32", float(entry)
    raise unsupported(entry)


def _numpy_dtype(dtype: Any, entry: Any, unsupported: Callable[[Any], Exception]) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise unsupported(entry) from None
    if name not in _ARROW_TYPES or name == "string":
        raise unsupported(entry)
    return name


def _coerce(value: Any, dtype: str) -> Any:
    if dtype == "string":
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)
    return int(value) if dtype.startswith("int") else float(value)


def _default_type_error(entry: Any, column: str) -> TypeError:
    return TypeError(message(
        f"The column_defaults entry for column {column!r} has an unsupported type",
        expected="a default value (float, int or str, alone or in a one-element list), or [] or a dtype "
                 "(torch.float32, torch.float64, torch.int32, torch.int64, str) for a required column",
        fix="Use e.g. [0.0] for an optional float column or [] for a required one",
        entry=entry, type=type(entry).__name__))


def _default_size_error(entry: Any, column: str) -> ValueError:
    return ValueError(message(
        f"The column_defaults entry for column {column!r} has more than one value",
        expected="one default value per column, or [] for a required column",
        entry=entry if not isinstance(entry, np.ndarray) else entry.tolist()))


def _infer_types(files: Sequence[str], compressions: Sequence[str | None], fmt: CsvFormat, names: list[str],
                 indices: list[int]) -> list[tuple[str, Any]]:
    """TensorFlow's inference (int, else float, else string; all optional) on the first block."""
    selected = [names[index] for index in indices]
    schema = None
    for path, compression in zip(files, compressions):
        stream = open_bytes(path, compression)
        try:
            reader = pa_csv.open_csv(
                stream, read_options=pa_csv.ReadOptions(column_names=names, skip_rows=int(fmt.header),
                                                block_size=_INFERENCE_BYTES),
                # Bad rows are skipped here; the first-block check reports them with their line.
                parse_options=fmt.parse_options(lambda row: "skip"),
                convert_options=pa_csv.ConvertOptions(include_columns=selected, null_values=fmt.null_values,
                                                      strings_can_be_null=True, quoted_strings_can_be_null=True))
            schema = reader.schema
            has_rows = any(batch.num_rows for batch in _first(reader))
        except pa.ArrowInvalid:
            has_rows = False  # an unreadable start: inference falls back to strings, the check reports it
        finally:
            stream.close()
        if has_rows:
            break
    types = []
    for name in selected:
        arrow = schema.field(name).type if schema is not None else pa.null()
        if pa.types.is_integer(arrow):
            types.append(("int64", 0))
        elif pa.types.is_floating(arrow):
            types.append(("float32", 0.0))
        else:  # strings, and values TensorFlow would not have parsed (dates, booleans), and all-missing
            types.append(("string", ""))
    return types


def _first(reader: pa_csv.CSVStreamingReader) -> list[pa.RecordBatch]:
    try:
        return [reader.read_next_batch()]
    except StopIteration:
        return []
