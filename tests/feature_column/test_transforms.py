"""Each categorical column's ids against hand-computed values (TensorFlow's rules in comments)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from torch_estimator import feature_column as fc
from torch_estimator.export.fingerprint import combine64, fingerprint64, fingerprint_integers, mix64
from torch_estimator.export.transforms import DEFAULT_HASH_KEY, MissingFeatureError, from_json


def ids(column, **features):
    return column.transform(features).tolist()


def bucket(value: str, size: int) -> int:
    return int(fingerprint64(np.array([value]))[0] % np.uint64(size))


def test_vocabulary_list_indexes_values_and_drops_oov_by_default():
    column = fc.categorical_column_with_vocabulary_list("type", ["house", "apt", "flat"])
    # index in the list; out of vocabulary -> default_value=-1 -> no id; '' and None are missing.
    assert ids(column, type=np.array(["flat", "house", "tent", "", None], dtype=object)) == [[2], [0], [-1], [-1], [-1]]
    assert column.num_buckets == 3 and column.dtype == "string"


def test_vocabulary_list_default_value_maps_oov_to_one_id():
    column = fc.categorical_column_with_vocabulary_list("type", ["house", "apt"], default_value=0)
    assert ids(column, type=np.array(["apt", "tent", ""])) == [[1], [0], [-1]]  # missing stays missing


def test_vocabulary_list_oov_buckets_follow_the_vocabulary():
    column = fc.categorical_column_with_vocabulary_list("type", ["house", "apt"], num_oov_buckets=5)
    # OOV id = len(vocabulary) + fingerprint(value) % num_oov_buckets
    assert ids(column, type=np.array(["apt", "tent", "boat"])) == [[1], [2 + bucket("tent", 5)],
                                                                  [2 + bucket("boat", 5)]]
    assert column.num_buckets == 7


def test_integer_vocabulary_and_its_oov_hash_of_the_decimal_string():
    column = fc.categorical_column_with_vocabulary_list("code", [30, 10, 20], num_oov_buckets=3)
    assert column.dtype == torch.int64
    oov = 3 + int(fingerprint_integers(np.array([99]))[0] % np.uint64(3))
    assert ids(column, code=torch.tensor([[10, 99], [20, -1]])) == [[1, oov], [2, -1]]  # -1 pads


def test_multi_valued_string_inputs_are_padded_with_empty_strings():
    column = fc.categorical_column_with_vocabulary_list("tags", ["a", "b", "c"])
    assert ids(column, tags=np.array([["a", "c", ""], ["b", "", ""]])) == [[0, 2, -1], [1, -1, -1]]


def test_bytes_inputs_are_utf8_strings():
    column = fc.categorical_column_with_vocabulary_list("city", ["Zürich", "Oslo"])
    assert ids(column, city=np.array(["Zürich".encode(), b"Oslo"])) == [[0], [1]]
    assert ids(column, city=np.array([b"Oslo", None], dtype=object)) == [[1], [-1]]


def test_vocabulary_file_reads_whole_lines(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("house\r\napt\nflat\n")  # a Windows line end and a final newline
    column = fc.categorical_column_with_vocabulary_file("type", path)
    assert column.vocabulary_size == 3 and column.default_value == -1
    assert ids(column, type=np.array(["flat", "apt", "house", "tent"])) == [[2], [1], [0], [-1]]
    first_two = fc.categorical_column_with_vocabulary_file("type", str(path), vocabulary_size=2, num_oov_buckets=1)
    assert ids(first_two, type=np.array(["flat", "apt"])) == [[2], [1]]  # 'flat' is beyond the size: OOV bucket 2


def test_integer_vocabulary_file(tmp_path):
    path = tmp_path / "codes.txt"
    path.write_text("7\n3\n")
    column = fc.categorical_column_with_vocabulary_file("code", path, dtype=torch.int64, default_value=1)
    assert ids(column, code=np.array([3, 5])) == [[1], [1]]


def test_identity_in_range_default_and_missing():
    column = fc.categorical_column_with_identity("day", 7, default_value=6)
    assert ids(column, day=np.array([[0, 3], [9, -1], [-5, 6]])) == [[0, 3], [6, -1], [6, 6]]


def test_identity_out_of_range_without_default_is_an_error_like_tensorflow():
    column = fc.categorical_column_with_identity("day", 7)
    with pytest.raises(ValueError) as error:
        column.transform({"day": np.array([1, 7, 9, 7])})
    assert str(error.value) == (
        "categorical_column_with_identity 'day' got ids outside [0, 7). Expected ids in range, or -1 for a "
        "missing value. Received: key='day', ids=[7, 9]. Pass default_value= to map them to one id, or raise "
        "num_buckets.")


def test_hash_bucket_strings_and_integers():
    column = fc.categorical_column_with_hash_bucket("city", 10)
    assert ids(column, city=np.array(["Oslo", "", "Lima"])) == [[bucket("Oslo", 10)], [-1], [bucket("Lima", 10)]]
    numbers = fc.categorical_column_with_hash_bucket("zip", 10, dtype=torch.int64)
    # TensorFlow hashes integers through as_string: 7 lands where '7' does.
    assert ids(numbers, zip=np.array([7, -1])) == [[bucket("7", 10)], [-1]]


def test_bucketized_boundaries_follow_tensorflow():
    column = fc.bucketized_column(fc.numeric_column("x"), [0.0, 1.0, 2.0])
    # bucket i: boundaries[i-1] <= v < boundaries[i]; buckets (-inf,0) [0,1) [1,2) [2,inf)
    values = torch.tensor([-0.5, 0.0, 0.99, 1.0, 2.0, 100.0])
    assert ids(column, x=values) == [[0], [1], [1], [2], [3], [3]]


def test_bucketized_multi_dimensional_source_offsets_each_value():
    column = fc.bucketized_column(fc.numeric_column("xy", shape=(2,)), [0.0])
    # the j-th value's bucket is offset by j * (len(boundaries) + 1)
    assert ids(column, xy=torch.tensor([[-1.0, 5.0]])) == [[0, 3]]
    assert column.num_buckets == 4


def test_bucketized_rounds_boundaries_to_float32_like_tensorflow():
    column = fc.bucketized_column(fc.numeric_column("x"), [0.1])
    # float32(0.1) = 0.10000000149...; TensorFlow's Bucketize compares with that, so 0.1 is >= it
    # as a float32 value and < it as the float64 0.1.
    assert ids(column, x=np.array([0.1], np.float32)) == [[1]]
    assert ids(column, x=np.array([0.1], np.float64)) == [[0]]


def test_crossed_column_hashes_combinations():
    type_column = fc.categorical_column_with_vocabulary_list("type", ["house", "apt"])
    column = fc.crossed_column(["city", type_column], 100)
    assert column.name == "city_X_type"
    # parts in name order (city, type): combine(combine(hash_key, fingerprint('Oslo')), mix(id of 'apt'))
    expected = combine64(combine64(np.uint64(DEFAULT_HASH_KEY), fingerprint64(np.array(["Oslo"]))),
                         mix64(np.array([1]))) % np.uint64(100)
    got = ids(column, city=np.array(["Oslo", "Oslo", "Oslo"]), type=np.array(["apt", "tent", ""]))
    assert got == [[int(expected[0])], [-1], [-1]]  # an OOV or missing value gives no combination


def test_crossed_multi_valued_inputs_give_every_combination():
    column = fc.crossed_column(["a", "b"], 1000, hash_key=7)
    got = column.transform({"a": np.array([["x", "y"]]), "b": np.array([["p", "", "q"]])})
    assert got.shape == (1, 6)
    assert (got[0] == -1).tolist() == [False, True, False, False, True, False]
    pair = column.transform({"a": np.array(["y"]), "b": np.array(["q"])})
    assert got[0, 5] == pair[0, 0]  # (y, q) is the last combination


def test_crossed_key_order_does_not_change_ids():
    features = {"a": np.array(["x"]), "b": np.array(["y"])}
    assert ids(fc.crossed_column(["a", "b"], 50), **features) == ids(fc.crossed_column(["b", "a"], 50), **features)


def test_nested_crosses_are_flattened():
    inner = fc.crossed_column(["a", "b"], 10)
    column = fc.crossed_column([inner, "c"], 20)
    assert column.keys == ("a", "b", "c") and column.name == "a_X_b_X_c"


def test_missing_features_and_wrong_types_are_clear_errors():
    column = fc.categorical_column_with_vocabulary_list("type", ["house"])
    with pytest.raises(MissingFeatureError) as error:
        column.transform({"kind": np.array(["house"])})
    assert isinstance(error.value, ValueError) and isinstance(error.value, KeyError)
    assert str(error.value) == ("Feature 'type' is not in the features dictionary. Expected one of ['kind']. "
                                "Received: key='type'. Return the feature from input_fn (or the serving receiver), "
                                "or drop the column that reads it.")
    with pytest.raises(TypeError, match=r"Feature 'type' has the wrong type for its column. Expected strings. "
                                        r"Received: key='type', dtype='int64'"):
        column.transform({"type": np.array([1])})
    with pytest.raises(ValueError, match=r"Feature 'type' has the wrong rank .* Received: key='type', "
                                         r"shape=\(1, 1, 1\)"):
        column.transform({"type": np.array([[["house"]]])})
    with pytest.raises(ValueError, match="bucketized_column of 'x' needs 1 number"):
        fc.bucketized_column(fc.numeric_column("x"), [0.0]).transform({"x": np.array([["a"]])})


@pytest.mark.parametrize("column", [
    fc.categorical_column_with_vocabulary_list("t", ["a", "b"], num_oov_buckets=2),
    fc.categorical_column_with_identity("t", 4, default_value=0),
    fc.categorical_column_with_hash_bucket("t", 5),
    fc.bucketized_column(fc.numeric_column("t"), [1.5]),
    fc.crossed_column([fc.bucketized_column(fc.numeric_column("n"), [0.0]), "t"], 9),
], ids=lambda column: type(column).__name__)
def test_transforms_round_trip_through_json(column):
    restored = from_json(json.loads(json.dumps(column.transform.to_json())))
    assert restored == column.transform


def test_unknown_transforms_and_hashes_are_refused():
    with pytest.raises(ValueError, match=r"Unknown preprocessing transform.*Received: kind='regex', hash=None"):
        from_json({"kind": "regex"})
    with pytest.raises(ValueError, match=r"Received: kind='hash_bucket', hash='farmhash'"):
        from_json({"kind": "hash_bucket", "key": "a", "num_buckets": 2, "dtype": "string", "hash": "farmhash"})


def test_large_batches_are_vectorised():
    column = fc.categorical_column_with_vocabulary_list("w", [f"word{i}" for i in range(1000)], num_oov_buckets=10)
    values = np.char.add("word", np.arange(200_000).astype(str))
    got = column.transform({"w": values}).ravel()
    assert got[:1000].tolist() == list(range(1000)) and (got[1000:] >= 1000).all()


def test_ragged_and_mismatched_inputs_are_clear_errors():
    column = fc.categorical_column_with_vocabulary_list("tags", ["a"])
    with pytest.raises(ValueError, match=r"^Feature 'tags' is not a rectangular array\. Received: key='tags', "
                                         r"error=.*Pad rows to one length with '' \(strings\) or -1 \(integers\)\.$"):
        column.transform({"tags": [["a", "a"], ["a"]]})
    cross = fc.crossed_column(["a", "b"], 10)
    with pytest.raises(ValueError) as error:
        cross.transform({"a": np.array(["x", "y"]), "b": np.array(["x", "y", "z"])})
    assert str(error.value) == ("crossed_column features have different batch sizes. Received: keys=['a', 'b'], "
                                "batch_sizes=[2, 3].")


def test_numpy_vocabularies_become_plain_values():
    column = fc.categorical_column_with_vocabulary_list("t", np.array(["a", "b"]))
    assert column.vocabulary_list == ("a", "b") and type(column.vocabulary_list[0]) is str
    assert json.dumps(column.transform.to_json())
