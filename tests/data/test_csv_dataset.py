"""Tests for ``make_csv_dataset``: TensorFlow's semantics (columns, types, defaults, epochs,
shuffling, files) on pyarrow, and the conversion of columns to tensors and string arrays."""

from __future__ import annotations

import gzip
import itertools
import inspect

import numpy as np
import pytest
import torch

from torch_estimator.data import StreamingDataset, make_csv_dataset


def write(path, text):
    path.write_text(text)
    return str(path)


def numbered(tmp_path, rows, name="data.csv", start=0):
    """A CSV with an int id, a float, a string and an int label per row."""
    lines = "".join(f"{i},{i / 2},s{i},{i % 3}\n" for i in range(start, start + rows))
    return write(tmp_path / name, "id,x,word,label\n" + lines)


def ids(batches):
    return [int(v) for features, _ in batches for v in features["id"]]


def test_signature_matches_tensorflow():
    names = list(inspect.signature(make_csv_dataset).parameters)
    assert names == ["file_pattern", "batch_size", "column_names", "column_defaults", "label_name",
                     "select_columns", "field_delim", "use_quote_delim", "na_value", "header", "num_epochs",
                     "shuffle", "shuffle_buffer_size", "shuffle_seed", "compression_type", "ignore_errors",
                     "input_context"]


def test_batches_split_features_and_labels_with_a_final_partial_batch(tmp_path):
    dataset = make_csv_dataset(numbered(tmp_path, 10), batch_size=4, label_name="label", num_epochs=1,
                               shuffle=False)
    batches = list(dataset)
    assert isinstance(dataset, StreamingDataset) and isinstance(dataset, torch.utils.data.IterableDataset)
    assert [len(labels) for _, labels in batches] == [4, 4, 2]
    features, labels = batches[0]
    assert list(features) == ["id", "x", "word"]  # column order, label removed
    assert features["id"].dtype == torch.int64 and features["x"].dtype == torch.float32
    assert torch.equal(features["x"], torch.tensor([0.0, 0.5, 1.0, 1.5]))
    assert isinstance(features["word"], np.ndarray) and features["word"].tolist() == ["s0", "s1", "s2", "s3"]
    assert torch.equal(labels, torch.tensor([0, 1, 2, 0]))
    assert ids(batches) == list(range(10))


def test_without_label_name_batches_are_feature_dicts(tmp_path):
    batch = next(iter(make_csv_dataset(numbered(tmp_path, 3), batch_size=3, num_epochs=1, shuffle=False)))
    assert isinstance(batch, dict) and list(batch) == ["id", "x", "word", "label"]


def test_epochs_form_one_stream_and_batches_span_the_boundary(tmp_path):
    batches = list(make_csv_dataset(numbered(tmp_path, 5), batch_size=4, label_name="label", num_epochs=2,
                                    shuffle=False))
    assert [len(labels) for _, labels in batches] == [4, 4, 2]
    assert ids(batches) == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]


def test_num_epochs_none_repeats_forever_with_full_batches(tmp_path):
    dataset = make_csv_dataset(numbered(tmp_path, 5), batch_size=3, label_name="label", shuffle=False)
    taken = list(itertools.islice(dataset, 10))
    assert all(len(labels) == 3 for _, labels in taken)
    assert ids(taken) == [i % 5 for i in range(30)]


def test_each_iteration_starts_over(tmp_path):
    dataset = make_csv_dataset(numbered(tmp_path, 7), batch_size=3, label_name="label", num_epochs=1,
                               shuffle=True, shuffle_seed=3)
    assert ids(dataset) == ids(dataset)


def test_column_names_without_header_and_select_columns(tmp_path):
    path = write(tmp_path / "prices.csv", "1500,house,250000\n800,apt,120000\n")
    dataset = make_csv_dataset(path, batch_size=2, column_names=["sq_footage", "type", "price"], header=False,
                               select_columns=["price", 0], label_name="price", num_epochs=1, shuffle=False)
    features, labels = next(iter(dataset))
    assert list(features) == ["sq_footage"]
    assert torch.equal(labels, torch.tensor([250000, 120000]))


def test_inferred_types_follow_tensorflow_order_and_missing_values_get_zero_or_empty(tmp_path):
    path = write(tmp_path / "mixed.csv", "i,f,s,e,n\n1,2,a,,1\n,2.5,,,NA\n3,,c,,3\n")
    features = next(iter(make_csv_dataset(path, batch_size=3, num_epochs=1, shuffle=False, na_value="NA")))
    assert torch.equal(features["i"], torch.tensor([1, 0, 3]))
    assert torch.equal(features["f"], torch.tensor([2.0, 2.5, 0.0]))
    assert features["s"].tolist() == ["a", "", "c"]
    assert features["e"].tolist() == ["", "", ""]  # no value to infer from: string, as in TensorFlow
    assert torch.equal(features["n"], torch.tensor([1, 0, 3]))  # na_value is missing


def test_spaces_around_numbers_are_allowed_and_kept_in_strings(tmp_path):
    # The course's property_prices_02.csv has a space after every comma.
    path = write(tmp_path / "spaced.csv", "1500, house, 250000\n800, apt, 120000.5\n")
    features, labels = next(iter(make_csv_dataset(path, 2, column_names=["sq", "type", "price"], header=False,
                                                  label_name="price", num_epochs=1, shuffle=False)))
    assert torch.equal(features["sq"], torch.tensor([1500, 800]))
    assert features["type"].tolist() == [" house", " apt"]
    assert torch.equal(labels, torch.tensor([250000.0, 120000.5]))


def test_column_defaults_set_types_and_fill_missing_values(tmp_path):
    path = write(tmp_path / "d.csv", "a,b,c,d\n1,,x,7\n,2.5,,\n")
    defaults = [[0.0], -1.0, ["na"], torch.int32]
    with pytest.raises(ValueError, match="column 'd' \\(field 4\\): the value is missing but the column is required"):
        make_csv_dataset(path, 2, column_defaults=defaults, num_epochs=1, shuffle=False)
    features = next(iter(make_csv_dataset(path, 2, column_defaults=[[0.0], -1.0, ["na"], 9], num_epochs=1,
                                          shuffle=False)))
    assert torch.equal(features["a"], torch.tensor([1.0, 0.0]))
    assert torch.equal(features["b"], torch.tensor([-1.0, 2.5]))
    assert features["c"].tolist() == ["x", "na"]
    assert torch.equal(features["d"], torch.tensor([7, 9]))


@pytest.mark.parametrize("entry, dtype", [
    ([0.0], torch.float32), (0.0, torch.float32), ([0], torch.int64), (np.int32(0), torch.int32),
    (np.array([0.0]), torch.float32), (torch.tensor([0], dtype=torch.int32), torch.int32), ([], torch.float32),
    (torch.float64, torch.float32), (torch.int64, torch.int64), (int, torch.int64), (float, torch.float32),
])
def test_column_default_entries_give_tensorflow_types(tmp_path, entry, dtype):
    path = write(tmp_path / "one.csv", "v\n3\n")
    features = next(iter(make_csv_dataset(path, 1, column_defaults=[entry], num_epochs=1, shuffle=False)))
    assert features["v"].dtype == dtype and features["v"].tolist() == [3]


@pytest.mark.parametrize("entry", [["x"], "x", str, b"x"])
def test_string_column_defaults(tmp_path, entry):
    path = write(tmp_path / "one.csv", "v\n3\n")
    features = next(iter(make_csv_dataset(path, 1, column_defaults=[entry], num_epochs=1, shuffle=False)))
    assert features["v"].tolist() == ["3"]


def test_quoting_delimiters_and_tsv(tmp_path):
    quoted = write(tmp_path / "q.csv", 'name,n\n"Smith, J",1\n"say ""hi""",2\n')
    features = next(iter(make_csv_dataset(quoted, 2, num_epochs=1, shuffle=False)))
    assert features["name"].tolist() == ["Smith, J", 'say "hi"']
    literal = next(iter(make_csv_dataset(quoted, 2, use_quote_delim=False, field_delim="\t", num_epochs=1,
                                         shuffle=False)))
    assert literal['name,n'].tolist() == ['"Smith, J",1', '"say ""hi""",2']
    tsv = write(tmp_path / "t.tsv", "a\tb\n1\tx y\n")
    features = next(iter(make_csv_dataset(tsv, 1, field_delim="\t", num_epochs=1, shuffle=False)))
    assert features["b"].tolist() == ["x y"]


def test_crlf_line_ends_and_blank_lines(tmp_path):
    path = tmp_path / "crlf.csv"
    path.write_bytes(b"a,b\r\n1,x\r\n\r\n2,y\r\n")
    features = next(iter(make_csv_dataset(str(path), 5, num_epochs=1, shuffle=False)))
    assert features["a"].tolist() == [1, 2] and features["b"].tolist() == ["x", "y"]


def test_globs_lists_and_gzip(tmp_path):
    numbered(tmp_path, 3, "part-0.csv")
    numbered(tmp_path, 3, "part-1.csv", start=3)
    with gzip.open(tmp_path / "part-2.csv.gz", "wt") as file:
        file.write("id,x,word,label\n6,3.0,s6,0\n")
    with gzip.open(tmp_path / "packed.data", "wt") as file:
        file.write("id,x,word,label\n7,3.5,s7,1\n")
    dataset = make_csv_dataset(str(tmp_path / "part-*"), 10, label_name="label", num_epochs=1, shuffle=False)
    assert ids(dataset) == [0, 1, 2, 3, 4, 5, 6]
    listed = make_csv_dataset([str(tmp_path / "part-1.csv"), str(tmp_path / "part-*.csv")], 10,
                              label_name="label", num_epochs=1, shuffle=False)
    assert ids(listed) == [0, 1, 2, 3, 4, 5]  # sorted, each file once
    packed = make_csv_dataset(str(tmp_path / "packed.data"), 10, compression_type="GZIP", label_name="label",
                              num_epochs=1, shuffle=False)
    assert ids(packed) == [7]


def test_shuffle_is_a_seeded_permutation_per_epoch(tmp_path):
    path = numbered(tmp_path, 50)

    def order(**kwargs):
        return ids(make_csv_dataset(path, 8, label_name="label", num_epochs=2, shuffle=True,
                                    shuffle_buffer_size=10, **kwargs))

    first = order(shuffle_seed=1)
    assert sorted(first[:50]) == list(range(50)) and sorted(first[50:]) == list(range(50))
    assert first[:50] != list(range(50)) and first[:50] != first[50:]  # mixed, differently each epoch
    assert order(shuffle_seed=1) == first and order(shuffle_seed=2) != first
    torch.manual_seed(0)
    drawn = order()
    torch.manual_seed(0)
    assert order() == drawn  # the seed comes from torch's RNG, so manual_seed repeats a run


def test_shuffle_mixes_files(tmp_path):
    for part in range(4):
        numbered(tmp_path, 5, f"p{part}.csv", start=5 * part)
    orders = {tuple(ids(make_csv_dataset(str(tmp_path / "p*.csv"), 20, label_name="label", num_epochs=1,
                                         shuffle=True, shuffle_buffer_size=1, shuffle_seed=seed)))
              for seed in range(6)}
    assert len(orders) > 1 and all(sorted(order) == list(range(20)) for order in orders)


def test_a_large_file_streams_in_many_blocks(tmp_path, monkeypatch):
    from torch_estimator.data import csv_reader

    monkeypatch.setattr(csv_reader, "BLOCK_SIZE", 1 << 10)  # ~60 blocks
    path = numbered(tmp_path, 3000)
    dataset = make_csv_dataset(path, 128, label_name="label", num_epochs=1, shuffle=False)
    assert ids(dataset) == list(range(3000))
    shuffled = ids(make_csv_dataset(path, 128, label_name="label", num_epochs=1, shuffle_buffer_size=100,
                                    shuffle_seed=0))
    assert sorted(shuffled) == list(range(3000)) and shuffled != list(range(3000))


def test_batches_are_writable_tensors_owning_their_memory(tmp_path):
    features, labels = next(iter(make_csv_dataset(numbered(tmp_path, 4), 4, label_name="label", num_epochs=1,
                                                  shuffle=False)))
    labels += 1  # Arrow's buffers are read-only; a batch is the user's to modify
    features["x"].mul_(2)
    assert labels.tolist() == [1, 2, 3, 1]


def test_repr_names_the_format_and_options(tmp_path):
    dataset = make_csv_dataset(numbered(tmp_path, 3), 2, num_epochs=1, shuffle=False)
    assert repr(dataset) == "StreamingDataset(csv, files=1, batch_size=2, num_epochs=1, shuffle=False, pipeline=0/1)"


def test_column_defaults_follow_select_columns(tmp_path):
    # One default per selected column, in column order (TensorFlow's rule); the others are not parsed.
    path = write(tmp_path / "taxi.csv", "12.5,-73.9,40.7,x1\n,-74.0,40.8,x2\n")
    features, labels = next(iter(make_csv_dataset(
        path, 2, column_names=["fare", "lon", "lat", "key"], header=False, select_columns=["lat", "fare"],
        column_defaults=[[-1.0], [0.0]], label_name="fare", num_epochs=1, shuffle=False)))
    assert list(features) == ["lat"]
    assert torch.allclose(features["lat"], torch.tensor([40.7, 40.8]))
    assert labels.tolist() == [12.5, -1.0]  # defaults in column order: fare gets the first
