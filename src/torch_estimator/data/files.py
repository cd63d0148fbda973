"""Which files a dataset reads, and how they are opened: as bytes for pyarrow (plain or gzip),
or as text for ``TextLineDataset`` (plain, gzip or zlib).

``file_pattern`` follows TensorFlow's rules: one glob or a list of globs and paths, matched
files sorted so a run is deterministic. Two departures, both to turn silent surprises into
errors: a pattern in a list that matches nothing is an error (TensorFlow dropped it quietly),
and a file matched by two patterns is read once.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import os
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Union

import pyarrow as pa

from torch_estimator.errors import message

__all__ = ["check_compression_type", "compression_of", "describe_files", "glob_patterns", "match_files", "open_bytes",
           "text_opener"]

FilePattern = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]]

# TensorFlow's names; pyarrow has no raw-zlib stream, so "ZLIB" is refused with a fix.
_COMPRESSIONS = {"": None, "GZIP": "gzip"}


def glob_patterns(file_pattern: FilePattern, argument: str = "file_pattern") -> dict[str, list[str]]:
    """Each glob or path of ``file_pattern``, with the paths it matches (maybe none), in order.

    The matching every reader shares; what a pattern matching nothing means is the reader's
    rule: :func:`match_files` refuses it, ``Dataset.list_files`` (TensorFlow's) only refuses
    a ``file_pattern`` that matches nothing at all.

    Raises:
        TypeError: ``file_pattern`` is neither a string/path nor a list of them.

    Example:
        >>> _ = open("glob-1.csv", "w").write("1\\n")
        >>> glob_patterns(["glob-*.csv", "missing.csv"])
        {'glob-*.csv': ['glob-1.csv'], 'missing.csv': []}
    """
    patterns = [file_pattern] if isinstance(file_pattern, (str, os.PathLike)) else file_pattern
    if not isinstance(patterns, Sequence) or not all(isinstance(p, (str, os.PathLike)) for p in patterns):
        raise TypeError(message(f"{argument} must be a glob or a list of globs",
                                expected="a str, an os.PathLike, or a list of them",
                                fix='Pass e.g. "data/train-*.csv" or ["a.csv", "b.csv"]',
                                **{argument: file_pattern}))
    return {pattern: glob.glob(pattern) for pattern in map(os.fspath, patterns)}


def match_files(file_pattern: FilePattern, argument: str = "file_pattern") -> list[str]:
    """Expands a glob, or a list of globs and paths, to the sorted list of files it names.

    Args:
        file_pattern: A glob (``"data/train-*.csv"``), a path, or a list of them.
        argument: The argument name used in error messages.

    Returns:
        Sorted, de-duplicated paths of existing regular files.

    Raises:
        ValueError: The list is empty, a pattern matches no file, or a match is a directory.
        TypeError: ``file_pattern`` is neither a string/path nor a list of them.

    Example:
        >>> _ = open("part-1.csv", "w").write("a\\n1\\n"); _ = open("part-0.csv", "w").write("a\\n2\\n")
        >>> match_files("part-*.csv")
        ['part-0.csv', 'part-1.csv']
    """
    matches = glob_patterns(file_pattern, argument)
    if not matches:
        raise ValueError(message(f"{argument} is an empty list", expected="at least one glob or path",
                                 **{argument: file_pattern}))
    for pattern, found in matches.items():
        if not found:
            raise ValueError(message(f"No file matches {pattern!r}", expected="a glob matching at least one file",
                                     fix=f"Check the path and the working directory ({os.getcwd()})",
                                     **{argument: file_pattern}))
        directories = [path for path in found if os.path.isdir(path)]
        if directories:
            raise ValueError(message(f"{argument} matches a directory, not a file",
                                     expected="globs that match files only",
                                     fix=f"Match the files inside it, e.g. {os.path.join(directories[0], '*')!r}",
                                     directory=directories[0]))
    return sorted(set().union(*matches.values()))


def compression_of(path: str, compression_type: str | None) -> str | None:
    """The pyarrow codec for ``path``: from ``compression_type``, else inferred from ``.gz``.

    Example:
        >>> compression_of("train.csv.gz", None), compression_of("train.csv", "GZIP"), compression_of("a.gz", "")
        ('gzip', 'gzip', None)
    """
    if compression_type is None:
        return "gzip" if path.lower().endswith(".gz") else None
    return _COMPRESSIONS[compression_type.upper()]


def check_compression_type(compression_type: object) -> str | None:
    """Returns a problem description for an unsupported ``compression_type``, or None.

    Example:
        >>> check_compression_type("GZIP") is None, check_compression_type("ZLIB")[:39]
        (True, 'This compression_type is not supported.')
    """
    if compression_type is None:
        return None
    if not isinstance(compression_type, str) or compression_type.upper() not in _COMPRESSIONS:
        return message("This compression_type is not supported",
                       expected='None (inferred from a ".gz" suffix), "" (none) or "GZIP"',
                       fix="Decompress ZLIB files first, or recompress them with gzip",
                       compression_type=compression_type)
    return None


def open_bytes(path: str, compression: str | None, start: int = 0, end: int | None = None) -> pa.NativeFile:
    """A native input stream over ``path`` (decompressed), or over its bytes ``[start, end)``.

    Byte ranges are read natively (no Python in the read path); they apply to uncompressed
    files only, since a gzip stream cannot be entered in the middle.

    Example:
        >>> _ = open("range.csv", "w").write("a\\n1\\n2\\n")
        >>> open_bytes("range.csv", None, 2, 4).read()
        b'1\\n'
    """
    if compression is not None:
        return pa.CompressedInputStream(pa.OSFile(path), compression)
    source = pa.OSFile(path)
    if start == 0 and end is None:
        return source
    return source.get_stream(start, (end if end is not None else source.size()) - start)


def describe_files(files: Sequence[str]) -> dict[str, object]:
    """A short, JSON-able identity of a file list: count, total bytes, digest of paths and sizes.

    Part of a dataset's fingerprint, so a position saved over other files (or files that grew
    or shrank) is refused instead of resumed at the wrong row.

    Example:
        >>> _ = open("f.csv", "w").write("a\\n1\\n")
        >>> summary = describe_files(["f.csv"]); summary["count"], summary["bytes"]
        (1, 4)
    """
    entries = [(os.path.abspath(path), os.path.getsize(path)) for path in files]
    digest = hashlib.sha256("".join(f"{path}\t{size}\n" for path, size in entries).encode()).hexdigest()[:32]
    return {"count": len(entries), "bytes": sum(size for _, size in entries), "digest": digest}


def text_opener(compression_type: str | None) -> Callable[[str], io.TextIOBase]:
    """How ``TextLineDataset`` opens a file: as UTF-8 text, lines ending at ``\\n`` only.

    TensorFlow's rules for that class, not :func:`compression_of`'s: None means uncompressed
    (no guess from ``.gz``), and ``"ZLIB"`` is read too, by Python's zlib, since the stream is
    read line by line in Python anyway (pyarrow, behind :func:`open_bytes`, has no zlib stream).

    Raises:
        ValueError: Unknown ``compression_type`` (raised now, not when a file is opened).

    Example:
        >>> _ = open("text.csv", "w").write("1,a\\r\\n2,b")
        >>> with text_opener(None)("text.csv") as handle:
        ...     handle.read()
        '1,a\\r\\n2,b'
    """
    kind = (compression_type or "").upper()
    # newline="\n": lines end at \n only, as in TensorFlow (a lone \r stays inside the line).
    if kind == "":
        return lambda path: open(path, encoding="utf-8", newline="\n")
    if kind == "GZIP":
        return lambda path: gzip.open(path, "rt", encoding="utf-8", newline="\n")
    if kind == "ZLIB":
        return lambda path: io.TextIOWrapper(io.BufferedReader(_ZlibReader(open(path, "rb"))), encoding="utf-8",
                                             newline="\n")
    raise ValueError(message("Unknown compression_type", expected="None, '', 'GZIP' or 'ZLIB'",
                             fix="Pass one of those", compression_type=compression_type))


class _ZlibReader(io.RawIOBase):
    """Streams a zlib-compressed file (TensorFlow's 'ZLIB'; Python's gzip module reads only gzip)."""

    def __init__(self, file: io.BufferedIOBase) -> None:
        self._file = file
        self._inflate = zlib.decompressobj()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._inflate.eof:
            chunk = self._file.read(1 << 16)
            self._pending = self._inflate.decompress(chunk) if chunk else self._inflate.flush()
            if not chunk:
                break
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        self._file.close()
        super().close()
