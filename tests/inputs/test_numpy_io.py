"""Tests for ``numpy_input_fn``: batching, epochs, shuffling, conversion and every error."""

from __future__ import annotations

import inspect
import itertools
import re
import warnings

import numpy as np
import pytest
import torch

from torch_estimator.inputs.numpy_io import numpy_input_fn


def _rows(batches, key=None):
    """Concatenates the label (or feature ``key``) values of every batch into one list."""
    values = []
    for batch in batches:
        part = batch[1] if key is None else batch[0][key]
        values.extend(part.tolist())
    return values


def test_input_fn_takes_no_arguments_like_tensorflow():
    input_fn = numpy_input_fn(np.arange(3), shuffle=False)
    assert not inspect.signature(input_fn).parameters


def test_batches_in_order_with_a_smaller_final_batch():
    x = {"a": np.arange(20, dtype=np.float64).reshape(10, 2), "b": np.arange(10)}
    y = np.arange(10) * 10
    batches = list(numpy_input_fn(x, y, batch_size=4, shuffle=False)())

    assert [labels.shape[0] for _, labels in batches] == [4, 4, 2]
    features, labels = batches[0]
    assert features["a"].shape == (4, 2)
    assert torch.equal(features["a"], torch.arange(8, dtype=torch.float32).reshape(4, 2))
    assert torch.equal(features["b"], torch.tensor([0, 1, 2, 3]))
    assert torch.equal(labels, torch.tensor([0, 10, 20, 30]))
    last_features, last_labels = batches[-1]
    assert torch.equal(last_features["b"], torch.tensor([8, 9]))
    assert torch.equal(last_labels, torch.tensor([80, 90]))


def test_two_epochs_read_each_row_twice_and_batches_span_the_boundary():
    # TensorFlow's queue cut one stream of rows, so only the very last batch can be short.
    batches = list(numpy_input_fn(np.arange(10), np.arange(10), batch_size=4, num_epochs=2, shuffle=False)())
    assert [len(labels) for _, labels in batches] == [4, 4, 4, 4, 4]
    assert _rows(batches) == list(range(10)) * 2


def test_num_epochs_none_repeats_forever_with_full_batches():
    batches = numpy_input_fn(np.arange(10), np.arange(10), batch_size=3, num_epochs=None, shuffle=False)()
    taken = list(itertools.islice(batches, 50))
    assert len(taken) == 50
    assert all(len(labels) == 3 for _, labels in taken)
    assert _rows(taken) == [i % 10 for i in range(150)]


def test_shuffle_is_a_permutation_per_epoch():
    torch.manual_seed(0)
    batches = list(numpy_input_fn(np.arange(10), np.arange(10) * 10, batch_size=5, num_epochs=3, shuffle=True)())
    labels = _rows(batches)
    epochs = [labels[i:i + 10] for i in range(0, 30, 10)]
    assert all(sorted(epoch) == list(range(0, 100, 10)) for epoch in epochs)
    assert epochs[0] != list(range(0, 100, 10))
    assert len({tuple(epoch) for epoch in epochs}) == 3
    # Features and labels are gathered with the same permutation.
    for features, batch_labels in batches:
        assert torch.equal(features * 10, batch_labels)


def test_shuffle_is_reproducible_under_the_global_seed():
    input_fn = numpy_input_fn({"a": np.arange(10)}, np.arange(10), batch_size=4, num_epochs=2, shuffle=True)
    torch.manual_seed(7)
    first = _rows(input_fn())
    torch.manual_seed(7)
    second = _rows(input_fn())
    torch.manual_seed(8)
    other = _rows(input_fn())
    assert first == second
    assert first != other


def test_shuffle_keeps_string_columns_aligned():
    x = {"id": np.arange(6), "name": np.array([f"row{i}" for i in range(6)])}
    torch.manual_seed(0)
    for features in numpy_input_fn(x, batch_size=4, shuffle=True)():
        assert isinstance(features["name"], np.ndarray)
        assert features["name"].tolist() == [f"row{i}" for i in features["id"].tolist()]


def test_iterating_again_starts_over():
    batches = numpy_input_fn(np.arange(5), np.arange(5), batch_size=2, shuffle=False)()
    assert _rows(batches) == _rows(batches) == [0, 1, 2, 3, 4]
    iterator = iter(batches)
    next(iterator)
    assert _rows(batches) == [0, 1, 2, 3, 4]


def test_bare_array_x_gives_bare_tensor_features():
    features, labels = next(iter(numpy_input_fn(np.ones((4, 3)), np.zeros(4), batch_size=2, shuffle=False)()))
    assert isinstance(features, torch.Tensor) and features.shape == (2, 3)
    assert isinstance(labels, torch.Tensor) and labels.shape == (2,)


def test_dict_labels():
    y = {"price": np.arange(4.0), "sold": np.array([0, 1, 0, 1])}
    _, labels = next(iter(numpy_input_fn({"a": np.arange(4)}, y, batch_size=3, shuffle=False)()))
    assert list(labels) == ["price", "sold"]
    assert torch.equal(labels["price"], torch.tensor([0.0, 1.0, 2.0]))
    assert torch.equal(labels["sold"], torch.tensor([0, 1, 0]))


def test_without_y_batches_are_features_only():
    batches = list(numpy_input_fn({"a": np.arange(5)}, batch_size=2, shuffle=False)())
    assert all(isinstance(batch, dict) for batch in batches)
    assert [batch["a"].tolist() for batch in batches] == [[0, 1], [2, 3], [4]]


def test_dtypes_follow_the_project_rules():
    x = {"f64": np.zeros(3), "f16": np.zeros(3, np.float16), "i64": np.zeros(3, np.int64),
         "i32": np.zeros(3, np.int32), "flag": np.zeros(3, bool), "word": np.array(["a", "b", "c"]),
         "obj": np.array(["a", None, "c"], dtype=object)}
    features = next(iter(numpy_input_fn(x, batch_size=3, shuffle=False)()))
    assert features["f64"].dtype == torch.float32
    assert features["f16"].dtype == torch.float16
    assert features["i64"].dtype == torch.int64
    assert features["i32"].dtype == torch.int32
    assert features["flag"].dtype == torch.bool
    assert isinstance(features["word"], np.ndarray) and features["word"].tolist() == ["a", "b", "c"]
    assert isinstance(features["obj"], np.ndarray)


def test_keys_come_out_sorted_as_in_tensorflow():
    features = next(iter(numpy_input_fn({"b": np.arange(2), "a": np.arange(2)}, batch_size=2, shuffle=False)()))
    assert list(features) == ["a", "b"]


def test_lists_and_tensors_are_accepted_as_dict_values():
    x = {"list": [1, 2, 3], "tensor": torch.tensor([4.0, 5.0, 6.0])}
    features = next(iter(numpy_input_fn(x, batch_size=3, shuffle=False)()))
    assert torch.equal(features["list"], torch.tensor([1, 2, 3]))
    assert torch.equal(features["tensor"], torch.tensor([4.0, 5.0, 6.0]))


def test_arrays_are_converted_once_per_input_fn_call():
    batches = numpy_input_fn(np.arange(8.0), shuffle=False, batch_size=2)()
    first, second = itertools.islice(batches, 2)
    # In-order batches are views of one converted tensor, not per-batch conversions.
    assert first.untyped_storage().data_ptr() == second.untyped_storage().data_ptr()


def test_read_only_arrays_convert_without_warning():
    array = np.arange(4)
    array.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = next(iter(numpy_input_fn(array, batch_size=4, shuffle=False)()))
    assert batch.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("shuffle", [None, 1, "yes"])
def test_shuffle_must_be_a_bool(shuffle):
    with pytest.raises(ValueError, match=re.escape(f"shuffle must be provided explicitly as a bool. "
                                                   f"Expected True or False. Received: shuffle={shuffle!r}")):
        numpy_input_fn(np.arange(3), shuffle=shuffle)


@pytest.mark.parametrize("name", ["batch_size", "num_epochs", "queue_capacity", "num_threads"])
@pytest.mark.parametrize("value", [0, -2])
def test_counts_must_be_positive(name, value):
    with pytest.raises(ValueError, match=re.escape(f"{name} must be positive. Expected an int > 0. "
                                                   f"Received: {name}={value}")):
        numpy_input_fn(np.arange(3), shuffle=False, **{name: value})


def test_non_positive_num_epochs_suggests_none():
    with pytest.raises(ValueError, match="Use num_epochs=None to repeat forever"):
        numpy_input_fn(np.arange(3), shuffle=False, num_epochs=0)


@pytest.mark.parametrize("name", ["batch_size", "num_epochs", "queue_capacity", "num_threads"])
@pytest.mark.parametrize("value", [2.0, True, "4"])
def test_counts_must_be_ints(name, value):
    with pytest.raises(TypeError, match=re.escape(f"{name} must be an int. Expected a positive int. "
                                                  f"Received: {name}={value!r}")):
        numpy_input_fn(np.arange(3), shuffle=False, **{name: value})


def test_numpy_integers_are_accepted_as_counts():
    batches = numpy_input_fn(np.arange(3), shuffle=False, batch_size=np.int64(2), num_epochs=np.int32(1))()
    assert [batch.tolist() for batch in batches] == [[0, 1], [2]]


def test_x_must_be_an_array_or_dict():
    with pytest.raises(TypeError, match=re.escape("x must be an array or a dict of arrays. "
                                                  "Expected a numpy array, a tensor or a dict of them. "
                                                  "Received: type(x)='list'")):
        numpy_input_fn([1, 2, 3], shuffle=False)


def test_y_must_be_an_array_or_dict():
    with pytest.raises(TypeError, match=re.escape("y must be an array or a dict of arrays. "
                                                  "Expected a numpy array, a tensor or a dict of them. "
                                                  "Received: type(y)='int'")):
        numpy_input_fn(np.arange(3), 5, shuffle=False)


def test_x_cannot_be_an_empty_dict():
    with pytest.raises(ValueError, match=re.escape("x is an empty dict. Expected at least one array. Received: x={}.")):
        numpy_input_fn({}, shuffle=False)


def test_y_cannot_be_an_empty_dict():
    with pytest.raises(ValueError, match=re.escape("y is an empty dict. Expected at least one array. "
                                                   "Received: y={}. Pass y=None for features-only batches.")):
        numpy_input_fn(np.arange(3), {}, shuffle=False)


def test_arrays_need_a_row_dimension():
    with pytest.raises(ValueError, match=re.escape("x['a'] has no leading (row) dimension. Expected an array "
                                                   "of shape [num_rows, ...]. Received: x['a']=3.")):
        numpy_input_fn({"a": 3}, shuffle=False)


def test_dtypes_without_a_tensor_equivalent_are_rejected():
    dates = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]")
    with pytest.raises(TypeError, match=re.escape("x['day'] has a dtype with no tensor equivalent. Expected a "
                                                  "numeric, bool or string dtype. "
                                                  "Received: x['day'].dtype='datetime64[D]'.")):
        numpy_input_fn({"day": dates}, shuffle=False)


def test_lengths_must_match_and_the_error_names_each_key():
    expected = ("Arrays in x and y have different lengths. Expected the same number of rows in every array. "
                "Received: x={'a': 3, 'b': 2}, y={'c': 3}.")
    with pytest.raises(ValueError, match=re.escape(expected)):
        numpy_input_fn({"a": np.arange(3), "b": np.arange(2)}, {"c": np.arange(3)}, shuffle=False)
    with pytest.raises(ValueError, match=re.escape("Received: x=3, y=4.")):
        numpy_input_fn(np.arange(3), np.arange(4), shuffle=False)


def test_x_and_y_may_not_share_keys():
    with pytest.raises(ValueError, match=re.escape("x and y share keys. Expected feature and label names to "
                                                   "differ. Received: shared_keys=['a'].")):
        numpy_input_fn({"a": np.arange(3), "b": np.arange(3)}, {"a": np.arange(3)}, shuffle=False)


def test_input_needs_rows():
    with pytest.raises(ValueError, match=re.escape("The input has no rows. Expected at least one row. "
                                                   "Received: num_rows=0.")):
        numpy_input_fn(np.zeros((0, 3)), shuffle=False)
