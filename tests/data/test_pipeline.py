"""est.data's small tf.data: decode_csv's TensorFlow rules, the chainable methods, prefetch's thread."""

from __future__ import annotations

import gc
import gzip
import threading
import time
import zlib

import numpy as np
import pytest
import torch

import torch_estimator as est
from torch_estimator.data.csv_records import pa_csv
from torch_estimator.data.pipeline import AUTOTUNE, Dataset, TextLineDataset, decode_csv


def write(path, text):
    path.write_text(text)
    return str(path)


def ints(dataset):
    return [int(x) for x in dataset]


# -- decode_csv: types, defaults, TensorFlow's parsing rules ----------------------------------

def test_record_defaults_give_types_and_defaults():
    a, b, c, d, e = decode_csv(["1.5,2,x,4,5", ",,,,"],
                               [[0.5], [7], ["dflt"], [np.float64(0)], [np.int32(9)]])
    assert a.dtype == torch.float32 and a.tolist() == [1.5, 0.5]  # Python float: float32, as tf.constant(0.0)
    assert b.dtype == torch.int64 and b.tolist() == [2, 7]  # Python int: int64 (TensorFlow: int32)
    assert isinstance(c, np.ndarray) and c.dtype == object and c.tolist() == ["x", "dflt"]
    assert d.dtype == torch.float64 and e.dtype == torch.int32 and e.tolist() == [5, 9]


def test_spaces_are_trimmed_from_numbers_but_kept_in_strings_as_in_tensorflow():
    size, kind, price = decode_csv(["1001, house,  501", " 2001 ,apt , 1301 "], [[0], [""], [0.0]])
    assert size.tolist() == [1001, 2001] and price.tolist() == [501.0, 1301.0]
    assert kind.tolist() == [" house", "apt "]


def test_quotes_delimiters_na_value_and_selected_columns():
    name, value = decode_csv(['"a, b",1', '"say ""hi""",2'], [[""], [0]])
    assert name.tolist() == ["a, b", 'say "hi"'] and value.tolist() == [1, 2]
    raw, = decode_csv(['"a"'], [[""]], use_quote_delim=False)
    assert raw.tolist() == ['"a"']
    x, y = decode_csv(["NA|2", "3|NA"], [[-1.0], [-2.0]], field_delim="|", na_value="NA")
    assert x.tolist() == [-1.0, 3.0] and y.tolist() == [2.0, -2.0]
    first, last = decode_csv(["a,1,x,2", "b,2,y,3"], [[""], [0.0]], select_cols=[0, 3])
    assert first.tolist() == ["a", "b"] and last.tolist() == [2.0, 3.0]


def test_shapes_of_a_single_record_a_2d_batch_bytes_and_no_records():
    size, kind = decode_csv("3000,house", [[0], [""]])
    assert size.shape == () and int(size) == 3000 and kind == "house"
    size, kind = decode_csv(np.array([["1,a", "2,b"], ["3,c", "4,d"]]), [[0], [""]])
    assert size.shape == (2, 2) and kind.tolist() == [["a", "b"], ["c", "d"]]
    size, = decode_csv([b"5", b"6"], [[0]])
    assert size.tolist() == [5, 6]
    size, kind = decode_csv([], [[0], [""]])
    assert size.shape == (0,) and size.dtype == torch.int64 and kind.shape == (0,)


def test_empty_default_or_dtype_means_required():
    a, b, c = decode_csv(["1,2,x"], [[], [torch.int64], [str]])
    assert a.dtype == torch.float32 and b.dtype == torch.int64 and c.tolist() == ["x"]
    with pytest.raises(ValueError) as error:
        decode_csv(["1,2", ",3"], [[], [0]])
    assert str(error.value) == ("Field 0 is required but missing in CSV record 1. Expected a value, since its "
                                "record_defaults entry has no default. Received: record=',3'. Give the column a "
                                "default, e.g. [0.0] or [''].")


def test_a_batch_is_parsed_by_one_pyarrow_call(monkeypatch):
    calls = []
    real = pa_csv.read_csv
    monkeypatch.setattr(pa_csv, "read_csv", lambda *a, **k: calls.append(1) or real(*a, **k))
    lines = [f"{i},{i * 0.5},row{i}" for i in range(40_000)]  # > 1 MB: pyarrow's threaded path
    number, half, name = decode_csv(lines, [[0], [0.0], [""]])
    assert len(calls) == 1
    assert number[-1] == 39_999 and half[-1] == 19_999.5 and name[-1] == "row39999"


# -- decode_csv: bad input names the record, the column and the value --------------------------

@pytest.mark.parametrize("records, defaults, expected", [
    (["1,2,3", "1,2"], [[0], [0], [0]],
     "CSV record 1 has 2 fields. Expected 3 fields separated by ',', one per record_defaults entry. "
     "Received: record='1,2'. Fix the data, or pass one record_defaults entry per column."),
    (["1,2", ""], [[0], [0]],
     "CSV record 1 has 0 fields. Expected 2 fields separated by ',', one per record_defaults entry. "
     "Received: record=''. Fix the data, or pass one record_defaults entry per column."),
    (['1,"2"x'], [[0], [0]],
     "CSV record 0 has a line break or malformed quotes. Expected 2 fields separated by ',', one per "
     "record_defaults entry. Received: record='1,\"2\"x'. Fix the data, or pass one record_defaults entry per column."),
    (["1,2,3", "4,x,6"], [[0], [0.0], [0]],
     "Field 1 of CSV record 1 is not a valid float32. Expected a number, since record_defaults[1] is float32. "
     "Received: value='x', record='4,x,6'. Fix the data, or read the column as text with "
     "record_defaults[1] = [''].")])
def test_malformed_records_name_the_record_and_the_field(records, defaults, expected):
    with pytest.raises(ValueError) as error:
        decode_csv(records, defaults)
    assert str(error.value) == expected


def test_with_select_cols_records_must_match_the_first_one():
    with pytest.raises(ValueError) as error:
        decode_csv(["a,1,x,2", "b,2,y,3,4"], [[""], [0.0]], select_cols=[0, 3])
    assert str(error.value) == ("CSV record 1 has 5 fields. Expected 4 fields separated by ',', as in record 0. "
                                "Received: record='b,2,y,3,4'. Fix the data, or pass one record_defaults entry "
                                "per column.")
    with pytest.raises(ValueError, match="CSV record 0 has 2 fields. Expected 4 fields separated by ',', or more, "
                                         "since select_cols includes column 3"):
        decode_csv(["a,1"], [[""], [0.0]], select_cols=[0, 3])


@pytest.mark.parametrize("field", ["2.5", "3000000000", "1e3"])
def test_int32_fields_must_be_int32_numbers(field):
    with pytest.raises(ValueError, match=rf"Field 0 of CSV record 0 is not a valid int32\..*value='{field}'"):
        decode_csv([field], [[np.int32(0)]])


@pytest.mark.parametrize("kwargs, error_type, expected", [
    ({"record_defaults": [[True]]}, TypeError, "record_defaults[0] has an unsupported type. Expected a float, int "
     "or str default ([0.0], [0], ['']), an empty list for a required float32 column, or a dtype/type for a "
     "required column. Received: entry=[True]. Use one of those."),
    ({"record_defaults": [[1, 2]]}, ValueError, "record_defaults[0] has 2 values. Expected at most one default "
     "per column. Received: entry=[1, 2]. Pass e.g. [0.0]."),
    ({"record_defaults": []}, ValueError, "record_defaults is empty. Expected one entry per column. Received: "
     "record_defaults=[]. Pass e.g. [[0.0], ['']]."),
    ({"record_defaults": [[0]], "field_delim": "::"}, ValueError, "field_delim must be one character. Received: "
     "field_delim='::'. Pass e.g. ',' or '\\t'."),
    ({"record_defaults": [[0], [0]], "select_cols": [2, 1]}, ValueError, "select_cols must be sorted, distinct, "
     "non-negative column indices, one per record_defaults entry. Expected 2 indices. Received: "
     "select_cols=[2, 1]. Sort the indices and give one default per selected column.")])
def test_malformed_arguments(kwargs, error_type, expected):
    with pytest.raises(error_type) as error:
        decode_csv(["1"], **kwargs)
    assert str(error.value) == expected


# -- files ------------------------------------------------------------------------------------

def test_list_files_matches_globs_now_and_shuffles_each_pass(tmp_path):
    names = [write(tmp_path / f"part-{i}.csv", f"{i}\n") for i in range(8)]
    assert list(Dataset.list_files(str(tmp_path / "part-*.csv"), shuffle=False)) == names
    assert list(Dataset.list_files([names[3], str(tmp_path / "part-[01].csv")], shuffle=False)) == \
        [names[0], names[1], names[3]]
    shuffled = Dataset.list_files(str(tmp_path / "*.csv"), seed=3)
    first, second = list(shuffled), list(shuffled)
    assert sorted(first) == names and first != second  # TensorFlow's default: shuffle, anew each pass
    assert list(Dataset.list_files(str(tmp_path / "*.csv"), seed=3)) == first
    with pytest.raises(ValueError) as error:
        Dataset.list_files(str(tmp_path / "nothing-*.csv"))
    assert str(error.value).startswith(f"No files matched file_pattern. Expected a glob matching at least one "
                                       f"file. Received: file_pattern='{tmp_path}/nothing-*.csv'. Check the path")


def test_text_lines_endings_compression_and_datasets_of_names(tmp_path):
    plain = write(tmp_path / "a.csv", "1,a\r\n\n2,b\r3")  # CRLF, an empty line, a lone CR, no final newline
    assert list(TextLineDataset(plain)) == ["1,a", "", "2,b\r3"]
    with gzip.open(tmp_path / "b.csv.gz", "wt") as handle:
        handle.write("4,c\n5,d\n")
    (tmp_path / "c.csv.z").write_bytes(zlib.compress(b"6,e\n7,f"))
    assert list(TextLineDataset([str(tmp_path / "b.csv.gz")], compression_type="GZIP")) == ["4,c", "5,d"]
    assert list(TextLineDataset(str(tmp_path / "c.csv.z"), compression_type="ZLIB")) == ["6,e", "7,f"]
    both = TextLineDataset(Dataset.list_files(str(tmp_path / "*.csv"), shuffle=False).repeat(2))
    assert len(list(both)) == 6 and len(list(both)) == 6  # re-iterable


def test_text_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        TextLineDataset([str(tmp_path / "missing.csv")])
    assert str(error.value) == (f"TextLineDataset was given files that do not exist. Received: missing="
                                f"['{tmp_path}/missing.csv']. Check the names, or use Dataset.list_files(pattern).")
    with pytest.raises(ValueError) as error:
        TextLineDataset([], compression_type="BZIP2")
    assert str(error.value) == ("Unknown compression_type. Expected None, '', 'GZIP' or 'ZLIB'. Received: "
                                "compression_type='BZIP2'. Pass one of those.")


# -- the chainable methods --------------------------------------------------------------------

def test_from_tensor_slices_structures_and_errors():
    rows = list(Dataset.from_tensor_slices(({"x": np.arange(3.0), "s": np.array(["a", "b", "c"])}, [1, 2, 3])))
    features, label = rows[2]
    assert features["x"].dtype == torch.float32 and float(features["x"]) == 2.0
    assert features["s"] == "c" and type(features["s"]) is str and int(label) == 3
    with pytest.raises(ValueError) as error:
        Dataset.from_tensor_slices({"a": [1, 2], "b": [1, 2, 3]})
    assert str(error.value) == ("from_tensor_slices needs every component to have the same number of rows. "
                                "Expected one leading dimension shared by all tensors. Received: rows=[2, 3]. "
                                "Pass arrays of equal length.")
    with pytest.raises(ValueError, match="from_tensor_slices cannot slice a scalar"):
        Dataset.from_tensor_slices(5)


def test_map_unpacks_tuples_flat_map_and_filter():
    pairs = Dataset.from_tensor_slices(([1, 2, 3, 4], [10, 20, 30, 40]))
    assert ints(pairs.map(lambda x, y: x + y)) == [11, 22, 33, 44]
    assert ints(pairs.filter(lambda x, y: x % 2 == 1).map(lambda x, y: y)) == [10, 30]
    assert ints(Dataset.from_tensor_slices([1, 2]).flat_map(lambda n: Dataset.from_tensor_slices([n] * int(n)))) \
        == [1, 2, 2]
    with pytest.raises(TypeError, match=r"filter's predicate must return one bool per element.*shape=\(2,\)"):
        list(pairs.filter(lambda x, y: torch.stack([x, y]) > 0))


def test_batch_stacks_leaves_and_handles_the_remainder():
    rows = Dataset.from_tensor_slices(({"x": np.arange(5.0), "s": ["a", "b", "c", "d", "e"]}, np.arange(5)))
    batches = list(rows.batch(2))
    assert [len(labels) for _, labels in batches] == [2, 2, 1]
    features, labels = batches[0]
    assert features["x"].tolist() == [0.0, 1.0] and features["s"].tolist() == ["a", "b"]
    assert features["s"].dtype == object and labels.dtype == torch.int64
    assert len(list(rows.batch(2, drop_remainder=True))) == 2
    nested = next(iter(rows.batch(2).batch(2)))
    assert nested[0]["x"].shape == (2, 2) and nested[0]["s"].shape == (2, 2)
    assert next(iter(Dataset.from_tensor_slices([1, 2]).map(lambda x: float(x)).batch(2))).dtype == torch.float32
    with pytest.raises(ValueError) as error:
        rows.batch(0)
    assert str(error.value) == "batch_size must be an integer >= 1. Received: batch_size=0. Pass a valid batch_size."


def test_repeat_take_skip_shard():
    data = Dataset.from_tensor_slices([0, 1, 2])
    assert ints(data.repeat(2)) == [0, 1, 2, 0, 1, 2]
    assert ints(data.repeat().take(7)) == [0, 1, 2, 0, 1, 2, 0]
    assert ints(data.repeat(-1).skip(2).take(2)) == [2, 0]
    assert ints(data.repeat(0)) == [] and ints(data.take(-1)) == [0, 1, 2] and ints(data.skip(-1)) == []
    assert ints(data.filter(lambda x: False).repeat()) == []  # forever over nothing ends
    assert ints(data.repeat(3).shard(2, 0)) == [0, 2, 1, 0, 2]
    with pytest.raises(ValueError) as error:
        data.shard(2, 2)
    assert str(error.value) == ("shard index out of range. Expected 0 <= index < num_shards=2. Received: index=2. "
                                "Pass input_context.input_pipeline_id.")


def test_shuffle_buffer_seed_and_reshuffling():
    data = Dataset.from_tensor_slices(list(range(100)))
    shuffled = data.shuffle(100, seed=7)
    first, second = ints(shuffled), ints(shuffled)
    assert sorted(first) == list(range(100)) and first != list(range(100)) and first != second
    assert ints(data.shuffle(100, seed=7)) == first
    fixed = data.shuffle(100, seed=7, reshuffle_each_iteration=False)
    assert ints(fixed) == ints(fixed)
    assert ints(data.shuffle(1)) == list(range(100))  # a buffer of one changes nothing
    windowed = ints(data.shuffle(10, seed=1))
    assert all(windowed.index(i) >= i - 10 for i in range(100))  # a small buffer only mixes nearby rows
    torch.manual_seed(0)
    unseeded = ints(data.shuffle(100))
    torch.manual_seed(0)
    assert ints(data.shuffle(100)) == unseeded  # seed=None follows torch (RunConfig.tf_random_seed)


def test_cache_replays_the_first_complete_pass():
    calls = []
    cached = Dataset.from_tensor_slices([1, 2, 3]).map(lambda x: calls.append(1) or x).cache()
    assert ints(cached.take(2)) == [1, 2]  # an interrupted pass caches nothing
    assert ints(cached) == [1, 2, 3] and ints(cached.repeat(2)) == [1, 2, 3] * 2
    assert len(calls) == 5


# -- prefetch ---------------------------------------------------------------------------------

def prefetch_threads():
    return [thread for thread in threading.enumerate() if thread.name == "est.data prefetch"]


def test_prefetch_keeps_order_and_stops_its_thread():
    data = Dataset.from_tensor_slices(list(range(50))).map(lambda x: x * 2)
    assert ints(data.prefetch(3)) == list(range(0, 100, 2))
    assert ints(data.prefetch(AUTOTUNE).prefetch(0)) == list(range(0, 100, 2))
    assert not prefetch_threads()
    iterator = iter(data.prefetch(2).map(lambda x: x + 1).prefetch(2).repeat())
    assert [int(next(iterator)) for _ in range(120)][-1] == 39
    assert len(prefetch_threads()) == 2
    iterator.close()  # what an abandoned training loop's generator gets when it is collected
    assert not prefetch_threads()
    iterator = iter(data.prefetch(2))
    next(iterator)
    del iterator
    gc.collect()
    assert not prefetch_threads()


def test_prefetch_raises_producer_errors_in_the_consumer_in_order():
    def check(x):
        if int(x) == 3:
            raise KeyError("row 3 is bad")
        return x

    seen = []
    with pytest.raises(KeyError, match="row 3 is bad"):
        for x in Dataset.from_tensor_slices(list(range(10))).map(check).prefetch(4):
            seen.append(int(x))
    assert seen == [0, 1, 2] and not prefetch_threads()


def test_prefetch_runs_at_most_buffer_size_ahead():
    made = []
    data = Dataset.from_tensor_slices(list(range(100))).map(lambda x: made.append(1) or x).prefetch(3)
    iterator = iter(data)
    next(iterator)
    time.sleep(0.2)
    assert len(made) <= 1 + 3 + 1  # the consumed one, a full queue, and one waiting for a slot
    iterator.close()


# -- in an Estimator --------------------------------------------------------------------------

def test_a_dataset_from_input_fn_trains_evaluates_and_predicts(tmp_path, make_estimator):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3
    lines = [f"{a:.6f},{b:.6f},{c:.6f},{label:.6f}" for (a, b, c), label in zip(x, y)]
    write(tmp_path / "train-1.csv", "\n".join(lines[:60]) + "\n")
    write(tmp_path / "train-2.csv", "\n".join(lines[60:]))

    def input_fn(mode):
        def decode(batch):
            a, b, c, label = decode_csv(batch, [[0.0]] * 4)
            return {"x": torch.stack([a, b, c], dim=1)}, label.unsqueeze(1)

        dataset = TextLineDataset(Dataset.list_files(str(tmp_path / "train-*.csv")))
        if mode == est.ModeKeys.TRAIN:
            dataset = dataset.shuffle(100).repeat()
        return dataset.batch(16).map(decode).prefetch(2)

    estimator = make_estimator()
    estimator.train(input_fn, max_steps=200)
    metrics = estimator.evaluate(input_fn)
    assert metrics["global_step"] == 200 and metrics["rmse"] < 0.01
    predictions = list(estimator.predict(input_fn))
    assert len(predictions) == 100
    assert not prefetch_threads()
