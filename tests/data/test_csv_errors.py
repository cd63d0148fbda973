"""Bad input to ``make_csv_dataset``: every error's message, raised at creation where it can be,
and ``ignore_errors=True`` skipping, counting and logging malformed rows."""

from __future__ import annotations

import gzip
import logging
import re

import pytest
import torch

import torch_estimator as est
from torch_estimator.data import csv_reader, make_csv_dataset


def write(path, text):
    path.write_text(text)
    return str(path)


def good_rows(start, stop):
    return "".join(f"{i},{i}.5,w{i}\n" for i in range(start, stop))


DEFAULTS = [0, 0.0, ""]  # types given: inferred from bad data, a column would just be strings


def read_all(path, **kwargs):
    kwargs = {"num_epochs": 1, "shuffle": False, "column_defaults": DEFAULTS, **kwargs}
    return [int(v) for features in make_csv_dataset(path, 7, **kwargs) for v in features["a"]]


@pytest.fixture
def small_blocks(monkeypatch):
    """~100-byte parse blocks, so bad rows fall after the first block (found while iterating)."""
    monkeypatch.setattr(csv_reader, "BLOCK_SIZE", 100)
    monkeypatch.setattr(csv_reader, "PROBE_BLOCK_SIZE", 100)


# -- malformed rows: file, line and column named ---------------------------------------------------
@pytest.mark.parametrize("bad_line, column, what", [
    ("3,3.5", "column 'c' (field 3)", "the line has 2 fields but there are 3 columns"),
    ("3,3.5,w3,extra", "field 4 (after the last column 'c')", "the line has 4 fields but there are 3 columns"),
    ("3,abc,w3", "column 'b' (field 2)", "the value is not a valid float32"),
    ("x3,3.5,w3", "column 'a' (field 1)", "the value is not a valid int64"),
])
def test_a_malformed_row_in_the_first_block_fails_at_creation(tmp_path, bad_line, column, what):
    path = write(tmp_path / "bad.csv", "a,b,c\n" + good_rows(0, 3) + bad_line + "\n" + good_rows(4, 6))
    with pytest.raises(ValueError) as raised:
        make_csv_dataset(path, 2, column_defaults=DEFAULTS, num_epochs=1, shuffle=False)
    assert str(raised.value).startswith(f"Malformed CSV row in {path!r}, line 5, {column}: {what}. Expected ")
    assert str(raised.value).endswith(
        "Fix or remove the row, or pass ignore_errors=True to skip malformed rows (they are counted and logged).")


def test_an_unparsable_number_message_in_full(tmp_path):
    path = write(tmp_path / "bad.csv", "a,b,c\n1,1.5,x\n2,two,y\n")
    with pytest.raises(ValueError) as raised:
        make_csv_dataset(path, 2, column_defaults=DEFAULTS)
    assert str(raised.value) == (
        f"Malformed CSV row in {path!r}, line 3, column 'b' (field 2): the value is not a valid float32. "
        "Expected a number of type float32 (spaces around it are allowed), or one of [''] for a missing value. "
        "Received: value='two'. Fix or remove the row, or pass ignore_errors=True to skip malformed rows "
        "(they are counted and logged).")


@pytest.mark.parametrize("bad_line, column", [
    ("300,3.5", "column 'c' (field 3)"), ("300,x,w", "column 'b' (field 2)"), ("300,,w", "column 'b' (field 2)"),
])
def test_a_malformed_row_after_the_first_block_fails_while_iterating(tmp_path, small_blocks, bad_line, column):
    text = "a,b,c\n" + good_rows(0, 300) + bad_line + "\n" + good_rows(301, 320)
    path = write(tmp_path / "late.csv", text)
    dataset = make_csv_dataset(path, 7, column_defaults=[0, [], [""]], num_epochs=1, shuffle=False)
    iterator = iter(dataset)
    next(iterator)
    with pytest.raises(ValueError, match=re.escape(f"{path!r}, line 302, {column}: ")):
        list(iterator)


def test_line_numbers_count_from_the_file_start_in_a_byte_range_shard(tmp_path, small_blocks):
    path = write(tmp_path / "late.csv", "a,b,c\n" + good_rows(0, 300) + "300,x,w\n" + good_rows(301, 320))
    with pytest.raises(ValueError, match="line 302, column 'b'"):
        for pipeline in range(2):  # the bad row is in the second half of the file
            read_all(path, input_context=est.InputContext(2, pipeline))


def test_line_numbers_in_gzip_files(tmp_path, small_blocks):
    path = str(tmp_path / "late.csv.gz")
    with gzip.open(path, "wt") as file:
        file.write("a,b,c\n" + good_rows(0, 200) + "\n" + "200,x,w\n")  # a blank line is still a line
    with pytest.raises(ValueError, match="line 203, column 'b'"):
        read_all(path)


# -- ignore_errors ---------------------------------------------------------------------------------
def test_ignore_errors_skips_counts_and_logs_bad_rows_each_epoch(tmp_path, caplog):
    path = write(tmp_path / "bad.csv", "a,b,c\n1,1.5,x\n2,2.5\n3,three,z\n4,4.5,w,extra\n5,,v\n6,6.5,u\n")
    caplog.set_level(logging.WARNING, logger="torch_estimator")
    assert read_all(path, ignore_errors=True, num_epochs=2, column_defaults=[0, [], [""]]) == [1, 6, 1, 6]
    warnings = [r for r in caplog.records if r.name == "torch_estimator" and r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "Skipped 4 malformed rows in epoch 0 (ignore_errors=True).",
        "Skipped 4 malformed rows in epoch 1 (ignore_errors=True)."]


def test_ignore_errors_after_the_first_block_keeps_every_good_row_once(tmp_path, small_blocks, caplog):
    rows = [f"{i},{i}.5,w{i}" for i in range(400)]
    bad = {50: "50,1.5", 120: "120,oops,w", 121: "121,1.5,w,x", 300: "x,1,w", 301: "301,2.5"}
    for index, line in bad.items():
        rows[index] = line
    path = write(tmp_path / "bad.csv", "a,b,c\n" + "\n".join(rows) + "\n")
    caplog.set_level(logging.WARNING, logger="torch_estimator")
    assert read_all(path, ignore_errors=True) == [i for i in range(400) if i not in bad]
    assert "Skipped 5 malformed rows in epoch 0" in caplog.text


def test_ignore_errors_with_gzip_sharding_reads_good_rows_once(tmp_path, small_blocks):
    path = str(tmp_path / "bad.csv.gz")
    lines = [f"{i},{i}.5,w" if i % 17 else f"{i},bad,w" for i in range(200)]
    with gzip.open(path, "wt") as file:
        file.write("a,b,c\n" + "\n".join(lines) + "\n")
    seen = [v for pipeline in range(3)
            for v in read_all(path, ignore_errors=True, input_context=est.InputContext(3, pipeline))]
    assert sorted(seen) == [i for i in range(200) if i % 17]


# -- errors at creation ----------------------------------------------------------------------------
@pytest.fixture
def csv_path(tmp_path):
    return write(tmp_path / "ok.csv", "a,b,c\n" + good_rows(0, 3))


@pytest.mark.parametrize("kwargs, error, expected", [
    ({"label_name": "price"}, ValueError,
     "label_name is not one of the columns. Expected one of ['a', 'b', 'c']. Received: label_name='price'. "
     "Check the name against the header (or column_names) and select_columns."),
    ({"label_name": "c", "select_columns": ["a", "b"]}, ValueError, "label_name is not one of the columns. "
     "Expected one of ['a', 'b']"),
    ({"select_columns": ["a", "z"]}, ValueError, "select_columns names an unknown column 'z'. "
     "Expected names from ['a', 'b', 'c'] or indices. Received: select_columns=['a', 'z']."),
    ({"select_columns": [0, 3]}, ValueError, "A column index in select_columns is out of range"),
    ({"select_columns": [0, "a"]}, ValueError, "select_columns contains duplicate columns"),
    ({"column_defaults": [0, 0.0, {}]}, TypeError,
     "The column_defaults entry for column 'c' has an unsupported type. Expected a default value"),
    ({"column_defaults": [0, 0.0, None]}, TypeError, "The column_defaults entry for column 'c' has an "
     "unsupported type"),
    ({"column_defaults": [True, 0.0, ""]}, TypeError, "column 'a' has an unsupported type"),
    ({"column_defaults": [torch.bool, 0.0, ""]}, TypeError, "column 'a' has an unsupported type"),
    ({"column_defaults": [[1, 2], 0.0, ""]}, ValueError, "column 'a' has more than one value"),
    ({"column_defaults": [0, 0.0]}, ValueError, "column_defaults has the wrong length. Expected one entry per "
     "column (3)"),
    ({"column_defaults": [0.0, 0.0, 0.0]}, ValueError, "line 2, column 'c' (field 3): the value is not a valid "
     "float32"),
    ({"batch_size": 0}, ValueError, "batch_size must be positive. Expected an int > 0. Received: batch_size=0."),
    ({"batch_size": -3}, ValueError, "batch_size must be positive"),
    ({"batch_size": 2.5}, TypeError, "batch_size must be an int"),
    ({"num_epochs": 0}, ValueError, "num_epochs must be positive. Expected an int > 0. Received: num_epochs=0. "
     "Use num_epochs=None to repeat forever."),
    ({"shuffle_buffer_size": 0}, ValueError, "shuffle_buffer_size must be positive"),
    ({"header": False}, ValueError, "Cannot infer column names without a header line. Received: header=False, "
     "column_names=None. Pass column_names=[...], or header=True if the files have one."),
    ({"column_names": ["a", "a", "b"]}, ValueError, "Cannot have duplicate column names"),
    ({"compression_type": "ZLIB"}, ValueError, "This compression_type is not supported"),
    ({"field_delim": ",,"}, ValueError, "field_delim must be one character"),
    ({"input_context": est.InputContext(2, 2)}, ValueError, "input_context does not describe a valid input "
     "pipeline. Expected an est.InputContext with 0 <= input_pipeline_id < num_input_pipelines. Received: "
     "num_input_pipelines=2, input_pipeline_id=2."),
])
def test_bad_arguments_fail_at_creation_with_their_message(csv_path, kwargs, error, expected):
    with pytest.raises(error) as raised:
        make_csv_dataset(csv_path, **{"batch_size": 2, **kwargs})
    assert str(raised.value).startswith(expected) or expected in str(raised.value)


def test_several_bad_batching_arguments_are_reported_at_once(csv_path):
    with pytest.raises(ValueError) as raised:
        make_csv_dataset(csv_path, 0, num_epochs=-1, shuffle_buffer_size=0)
    assert all(name in str(raised.value) for name in ("batch_size", "num_epochs", "shuffle_buffer_size"))


def test_a_glob_matching_no_file(tmp_path):
    pattern = str(tmp_path / "train-*.csv")
    with pytest.raises(ValueError) as raised:
        make_csv_dataset(pattern, 2)
    assert str(raised.value).startswith(f"No file matches {pattern!r}. Expected a glob matching at least one file. "
                                        f"Received: file_pattern={pattern!r}. Check the path and the working")


def test_one_pattern_of_a_list_matching_nothing(csv_path, tmp_path):
    with pytest.raises(ValueError, match="No file matches .*typo"):
        make_csv_dataset([csv_path, str(tmp_path / "typo*.csv")], 2)
    with pytest.raises(ValueError, match="file_pattern is an empty list"):
        make_csv_dataset([], 2)
    with pytest.raises(TypeError, match="file_pattern must be a glob or a list of globs"):
        make_csv_dataset(42, 2)
    with pytest.raises(ValueError, match="matches a directory"):
        make_csv_dataset(str(tmp_path), 2)


def test_files_with_different_headers(tmp_path):
    write(tmp_path / "a.csv", "a,b\n1,2\n")
    write(tmp_path / "b.csv", "a,c\n1,2\n")
    with pytest.raises(ValueError, match="Files have different column names in the header row"):
        make_csv_dataset(str(tmp_path / "*.csv"), 2)


def test_an_empty_file_with_a_header_expected(tmp_path):
    path = write(tmp_path / "empty.csv", "")
    with pytest.raises(ValueError, match=r"The header line is empty \(empty file\?\)"):
        make_csv_dataset(path, 2)


def test_a_header_only_file_reads_no_rows_and_repeating_it_forever_is_an_error(tmp_path):
    path = write(tmp_path / "header.csv", "a,b\n")
    assert list(make_csv_dataset(path, 2, num_epochs=1)) == []
    with pytest.raises(ValueError, match="The input has no rows to read, so repeating it forever"):
        next(iter(make_csv_dataset(path, 2)))
