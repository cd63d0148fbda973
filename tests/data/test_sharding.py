"""Sharding by ``InputContext``: across all pipelines one epoch reads every row exactly once, by
file, by CSV byte range, by every n-th gzip row, by Parquet row group or row-group slice."""

from __future__ import annotations

import gzip
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

import torch_estimator as est
from torch_estimator.data import csv_reader, make_csv_dataset, make_parquet_dataset
from torch_estimator.data.sharding import CsvPiece, csv_pieces, parquet_pieces, worker_split

ROWS = 1003  # not divisible by 2, 3 or 4 pipelines


def write_csv_parts(directory, files, rows=ROWS, gzipped=False):
    """``rows`` rows with ids 0.. spread over ``files`` files (header in each)."""
    per_file = -(-rows // files)
    for part in range(files):
        ids = range(part * per_file, min(rows, (part + 1) * per_file))
        text = "id,x\n" + "".join(f"{i},{i * 0.25}\n" for i in ids)
        if gzipped:
            with gzip.open(directory / f"part-{part}.csv.gz", "wt") as file:
                file.write(text)
        else:
            (directory / f"part-{part}.csv").write_text(text)
    return str(directory / "part-*")


def write_parquet_parts(directory, files, row_group_size, rows=ROWS):
    per_file = -(-rows // files)
    for part in range(files):
        ids = list(range(part * per_file, min(rows, (part + 1) * per_file)))
        table = pa.table({"id": ids, "x": [i * 0.25 for i in ids]})
        pq.write_table(table, directory / f"part-{part}.parquet", row_group_size=row_group_size)
    return str(directory / "part-*.parquet")


def ids_read(make, pattern, pipelines, **kwargs):
    """The ids each pipeline reads in one epoch."""
    return [[int(v) for features, _ in make(pattern, 64, label_name="x", num_epochs=1,
                                            input_context=est.InputContext(pipelines, index), **kwargs)
             for v in features["id"]]
            for index in range(pipelines)]


def assert_exact_cover(parts, rows=ROWS):
    assert sorted(v for part in parts for v in part) == list(range(rows))
    assert all(part for part in parts), "every pipeline reads something"


@pytest.mark.parametrize("files", [1, 2, 3, 5])
@pytest.mark.parametrize("gzipped", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_csv_pipelines_read_every_row_once(tmp_path, files, gzipped, shuffle):
    pattern = write_csv_parts(tmp_path, files, gzipped=gzipped)
    parts = ids_read(make_csv_dataset, pattern, 3, shuffle=shuffle, shuffle_seed=0, shuffle_buffer_size=50)
    assert_exact_cover(parts)


def test_csv_byte_ranges_across_many_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reader, "BLOCK_SIZE", 256)
    pattern = write_csv_parts(tmp_path, 1)
    assert_exact_cover(ids_read(make_csv_dataset, pattern, 4, shuffle=False))


@pytest.mark.parametrize("files, row_group_size", [(1, 100), (2, 100), (1, 2000), (2, 2000), (4, 100)])
def test_parquet_pipelines_read_every_row_once(tmp_path, files, row_group_size):
    pattern = write_parquet_parts(tmp_path, files, row_group_size)
    assert_exact_cover(ids_read(make_parquet_dataset, pattern, 3, shuffle=False))
    assert_exact_cover(ids_read(make_parquet_dataset, pattern, 3, shuffle=True, shuffle_seed=1))


def test_by_file_when_there_are_as_many_files_as_pipelines(tmp_path):
    pattern = write_csv_parts(tmp_path, 3)
    parts = ids_read(make_csv_dataset, pattern, 3, shuffle=False)
    assert [part[0] for part in parts] == [0, 335, 670]  # file j to pipeline j


def test_byte_range_edges_move_to_line_starts(tmp_path):
    path = tmp_path / "lines.csv"
    path.write_bytes(b"h\r\n" + b"".join(b"%d\r\n" % i for i in range(10)) + b"last")  # CRLF, no final newline
    size = os.path.getsize(path)
    ranges = [(p.start, p.end) for k in range(4) for p in csv_pieces([str(path)], [None], True, 4, k)]
    assert ranges[0][0] == 3 and ranges[-1][1] == size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous: no gap, no overlap
    data = path.read_bytes()
    assert all(data[start - 1:start] == b"\n" for start, _ in ranges)


def test_more_pipelines_than_lines_leaves_some_ranges_empty(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("id,x\n0,0\n1,1\n")
    parts = ids_read(make_csv_dataset, str(path), 4, shuffle=False)
    assert sorted(v for part in parts for v in part) == [0, 1]


def test_parquet_pieces_round_robin_then_slices():
    counts = {"a": 2, "b": 3}.get
    assert [(p.path, p.row_groups) for p in parquet_pieces(["a", "b"], counts, 3, 0)] == [("a", (0,)), ("b", (1,))]
    sliced = parquet_pieces(["a"], {"a": 1}.get, 3, 2)
    assert [(p.row_groups, p.part, p.parts) for p in sliced] == [((0,), 2, 3)]
    assert parquet_pieces(["a", "b"], counts, 2, 1)[0].row_groups is None  # by file: no footer read


def test_worker_split_nests_workers_in_pipelines():
    assert [worker_split(2, p, (3, w)) for p in range(2) for w in range(3)] == [(6, i) for i in range(6)]
    assert worker_split(2, 1, (1, 0)) == (2, 1)


def test_dataloader_workers_split_the_data(tmp_path):
    pattern = write_csv_parts(tmp_path, 2, rows=200)
    dataset = make_csv_dataset(pattern, 16, label_name="x", num_epochs=1, shuffle=False)
    loader = DataLoader(dataset, batch_size=None, num_workers=2)
    seen = sorted(int(v) for features, _ in loader for v in features["id"])
    assert seen == list(range(200))


def test_gzip_pieces_stride_over_records():
    pieces = csv_pieces(["a.csv.gz"], ["gzip"], True, 3, 1)
    assert pieces == [CsvPiece("a.csv.gz", "gzip", skip_header=True, stride=3, offset=1)]


def test_labels_and_features_stay_aligned_when_sharded(tmp_path):
    pattern = write_csv_parts(tmp_path, 1)
    for features, labels in make_csv_dataset(pattern, 100, label_name="x", num_epochs=1, shuffle=True,
                                             shuffle_seed=0, input_context=est.InputContext(3, 1)):
        assert torch.allclose(labels, features["id"].float() * 0.25)
