"""Tests for ``make_parquet_dataset``: row-group streaming, column projection, types, missing
values, and the errors raised at creation."""

from __future__ import annotations

import inspect

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from torch_estimator.data import make_csv_dataset, make_parquet_dataset


def write(path, table, **kwargs):
    pq.write_table(table, path, **kwargs)
    return str(path)


def test_signature_shares_make_csv_datasets_names():
    names = list(inspect.signature(make_parquet_dataset).parameters)
    assert names == ["file_pattern", "batch_size", "label_name", "select_columns", "num_epochs", "shuffle",
                     "shuffle_buffer_size", "shuffle_seed", "input_context"]
    csv_names = set(inspect.signature(make_csv_dataset).parameters)
    assert set(names) <= csv_names


def test_batches_across_row_groups_with_types_converted(tmp_path):
    table = pa.table({"id": pa.array(range(10), pa.int32()), "x": [i / 4 for i in range(10)],
                      "flag": [i % 2 == 0 for i in range(10)], "word": [f"w{i}" for i in range(10)],
                      "label": pa.array(range(10), pa.int64())})
    path = write(tmp_path / "t.parquet", table, row_group_size=3)
    batches = list(make_parquet_dataset(path, 4, label_name="label", num_epochs=1, shuffle=False))
    assert [len(labels) for _, labels in batches] == [4, 4, 2]
    features, labels = batches[0]
    assert list(features) == ["id", "x", "flag", "word"]
    assert features["id"].dtype == torch.int32 and features["x"].dtype == torch.float32  # float64 -> float32
    assert features["flag"].tolist() == [True, False, True, False]
    assert features["word"].tolist() == ["w0", "w1", "w2", "w3"]
    assert labels.tolist() == [0, 1, 2, 3]
    assert [int(v) for f, _ in batches for v in f["id"]] == list(range(10))


def test_select_columns_reads_only_those(tmp_path):
    path = write(tmp_path / "t.parquet", pa.table({"a": [1, 2], "b": [3.0, 4.0], "c": ["x", "y"]}))
    features, labels = next(iter(make_parquet_dataset(path, 2, label_name="b", select_columns=["b", 0],
                                                      num_epochs=1, shuffle=False)))
    assert list(features) == ["a"] and labels.tolist() == [3.0, 4.0]


def test_dictionary_strings_and_missing_values(tmp_path):
    table = pa.table({"cat": pa.array(["a", None, "b"]).dictionary_encode(), "f": [1.0, None, 3.0],
                      "s": ["x", None, "z"]})
    path = write(tmp_path / "t.parquet", table)
    features = next(iter(make_parquet_dataset(path, 3, num_epochs=1, shuffle=False)))
    assert features["cat"].tolist() == ["a", "", "b"]
    assert torch.isnan(features["f"][1]) and features["f"][2] == 3.0
    assert features["s"].tolist() == ["x", "", "z"]


def test_nulls_in_an_integer_column_are_an_error_naming_file_row_group_and_column(tmp_path):
    path = write(tmp_path / "t.parquet", pa.table({"n": [1, None, 3]}))
    with pytest.raises(ValueError) as raised:
        list(make_parquet_dataset(path, 2, num_epochs=1, shuffle=False))
    assert str(raised.value) == (
        f"Parquet column 'n' has missing values in {path!r}, row group 0. Expected no nulls in integer and "
        "boolean columns (they have no missing-value marker). Received: nulls=1. Fill the nulls when writing "
        "the file, or store the column as float (nulls become NaN).")


def test_shuffle_and_epochs(tmp_path):
    path = write(tmp_path / "t.parquet", pa.table({"id": list(range(40))}), row_group_size=7)
    order = [int(v) for batch in make_parquet_dataset(path, 8, num_epochs=2, shuffle_seed=0, shuffle_buffer_size=5)
             for v in batch["id"]]
    assert sorted(order[:40]) == list(range(40)) and sorted(order[40:]) == list(range(40))
    assert order[:40] != list(range(40))


def test_errors_at_creation(tmp_path):
    path = write(tmp_path / "t.parquet", pa.table({"a": [1], "when": pa.array([0], pa.timestamp("s")),
                                                   "l": pa.array([[1]])}))
    with pytest.raises(ValueError, match="label_name is not one of the columns. Expected one of \\['a'\\]"):
        make_parquet_dataset(path, 2, label_name="price", select_columns=["a"])
    with pytest.raises(ValueError, match="select_columns names an unknown column 'z'"):
        make_parquet_dataset(path, 2, select_columns=["a", "z"])
    with pytest.raises(TypeError) as raised:
        make_parquet_dataset(path, 2)
    assert str(raised.value) == ("Parquet column 'when' has a type with no tensor equivalent. Expected integers, "
                                 "floats, booleans or strings. Received: type='timestamp[ms]'. Leave it out with "
                                 "select_columns, or convert it when writing.")
    with pytest.raises(ValueError, match="batch_size must be positive"):
        make_parquet_dataset(path, 0, select_columns=["a"])
    with pytest.raises(ValueError, match="No file matches"):
        make_parquet_dataset(str(tmp_path / "none-*.parquet"), 2)


def test_files_with_different_columns_fail_at_creation(tmp_path):
    write(tmp_path / "a.parquet", pa.table({"x": [1.0], "y": [1]}))
    write(tmp_path / "b.parquet", pa.table({"x": [1], "y": [1]}))
    with pytest.raises(ValueError, match="does not have the same columns as .*Received: differing=\\['x'\\]"):
        make_parquet_dataset(str(tmp_path / "*.parquet"), 2)
    assert len(list(make_parquet_dataset(str(tmp_path / "*.parquet"), 1, select_columns=["y"], num_epochs=1))) == 2


def test_state_round_trip(tmp_path):
    path = write(tmp_path / "t.parquet", pa.table({"id": np.arange(50)}), row_group_size=9)
    first = make_parquet_dataset(path, 6, num_epochs=1, shuffle_seed=4)
    iterator = iter(first)
    seen = [int(v) for _ in range(3) for v in next(iterator)["id"]]
    resumed = make_parquet_dataset(path, 6, num_epochs=1, shuffle_seed=4)
    resumed.load_state_dict(first.state_dict())
    seen += [int(v) for batch in resumed for v in batch["id"]]
    assert sorted(seen) == list(range(50))
