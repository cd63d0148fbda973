"""Tests for packed columns: which columns are packed, batches of them, and numpy/pandas input over them."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from torch_estimator.inputs.columnar import ColumnBlock, PackedColumns, holds_views
from torch_estimator.inputs.numpy_io import numpy_input_fn
from torch_estimator.inputs.pandas_io import pandas_input_fn
from torch_estimator.loops.batches import Features


def _columns():
    return {"a": torch.tensor([1.0, 2.0, 3.0]), "ids": torch.tensor([7, 8, 9]), "b": torch.tensor([4.0, 5.0, 6.0]),
            "pair": torch.ones(3, 2), "city": np.array(["x", "y", "z"]), "c": torch.tensor([0.5, 0.25, 0.125])}


def test_only_one_dimensional_float32_tensors_are_packed():
    packed = PackedColumns.pack(_columns())
    assert packed.keys == ("a", "b", "c")
    assert torch.equal(packed.table, torch.tensor([[1.0, 4.0, 0.5], [2.0, 5.0, 0.25], [3.0, 6.0, 0.125]]))
    assert list(packed.others) == ["ids", "pair", "city"]
    assert packed.order == ("a", "ids", "b", "pair", "city", "c")


@pytest.mark.parametrize("columns", [
    {"a": torch.tensor([1.0])},  # one column: nothing to gain
    {"a": torch.tensor([1.0]), "b": torch.tensor([1.0], dtype=torch.float64)},
    {"a": torch.tensor([[1.0]]), "b": torch.tensor([[1.0]])},
    {"s": np.array(["a"]), "t": np.array(["b"])},
])
def test_fewer_than_two_packable_columns_are_left_alone(columns):
    assert PackedColumns.pack(columns) is None


def test_a_split_batch_keeps_the_dict_order_and_its_columns_are_views_of_the_block():
    columns = _columns()
    packed = PackedColumns.pack(columns)
    rows = torch.tensor([2, 0])
    values = packed.rows(rows)
    others = {key: column[rows] if isinstance(column, torch.Tensor) else column[rows.numpy()]
              for key, column in packed.others.items()}
    features, block = packed.split(values, others)

    assert list(features) == ["a", "ids", "b", "pair", "city", "c"]  # the input's order, not packed-first
    for key, column in columns.items():
        expected = column[rows] if isinstance(column, torch.Tensor) else column[rows.numpy()]
        assert np.array_equal(np.asarray(features[key]), np.asarray(expected)), key
    assert block.keys == ("a", "b", "c") and block.values is values
    assert torch.equal(values, torch.stack([features["a"], features["b"], features["c"]], dim=1))
    features["b"].add_(100.0)  # a view: the block sees in-place changes
    assert values[:, 1].tolist() == [106.0, 104.0]


def test_slices_of_the_table_are_views_and_index_rows_are_copies():
    packed = PackedColumns.pack({"a": torch.arange(4.0), "b": torch.arange(4.0) * 10})
    assert packed.rows(slice(1, 3)).untyped_storage().data_ptr() == packed.table.untyped_storage().data_ptr()
    picked = packed.rows(torch.tensor([3, 1]))
    assert picked.tolist() == [[3.0, 30.0], [1.0, 10.0]]
    assert picked.untyped_storage().data_ptr() != packed.table.untyped_storage().data_ptr()


def test_holds_views_notices_a_replaced_or_removed_feature():
    values = torch.zeros(2, 2)
    block = ColumnBlock(("a", "b"), values, values.unbind(1))
    features = dict(zip(block.keys, block.columns))
    assert holds_views(features, block.keys, block.columns)
    assert not holds_views({**features, "a": features["a"].clone()}, block.keys, block.columns)
    assert not holds_views({"a": features["a"]}, block.keys, block.columns)


def test_numpy_batches_match_the_arrays_row_for_row_when_shuffled():
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=50), "b": rng.normal(size=50).astype(np.float32), "k": np.arange(50),
         "name": np.array([f"row{i}" for i in range(50)])}
    torch.manual_seed(3)
    batches = list(numpy_input_fn(x, np.arange(50) * 2, batch_size=8, num_epochs=2, shuffle=True)())
    for features, labels in batches:
        rows = features["k"].numpy()
        assert np.array_equal(labels.numpy(), rows * 2)
        assert np.allclose(features["a"].numpy(), x["a"][rows].astype(np.float32))
        assert np.array_equal(features["b"].numpy(), x["b"][rows])
        assert features["name"].tolist() == [f"row{i}" for i in rows]
        assert list(features) == ["a", "b", "k", "name"]  # sorted, as TensorFlow
    assert sorted(itertools.chain.from_iterable(labels.tolist() for _, labels in batches)) == sorted(
        list(range(0, 100, 2)) * 2)


def test_the_loops_batches_carry_the_block_of_their_columns():
    x = {"a": np.arange(6.0), "b": np.arange(6.0) * 2, "k": np.arange(6)}
    batches = numpy_input_fn(x, np.arange(6), batch_size=4, shuffle=False)()
    features, labels = next(batches.batches_as(Features))
    assert type(features) is Features
    block = features.column_block
    assert block.keys == ("a", "b") and block.values.tolist() == [[0.0, 0.0], [1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]
    assert block.columns[0] is features["a"] and block.columns[1] is features["b"]
    assert features["k"].tolist() == [0, 1, 2, 3] and labels.tolist() == [0, 1, 2, 3]
    plain = next(iter(batches))[0]  # user-facing iteration: plain dicts, same values
    assert type(plain) is dict and all(torch.equal(plain[key], features[key]) for key in x)


def test_the_table_is_packed_once_per_input_fn_call():
    input_fn = numpy_input_fn({"a": np.arange(8.0), "b": np.arange(8.0)}, batch_size=2, shuffle=False)
    batches = input_fn()
    first = next(iter(batches))["a"]
    again = next(iter(batches))["a"]  # a second pass reads the same table
    assert first.untyped_storage().data_ptr() == again.untyped_storage().data_ptr()
    other_call = next(iter(input_fn()))["a"]
    assert other_call.untyped_storage().data_ptr() != first.untyped_storage().data_ptr()


def test_pandas_columns_keep_the_frames_order_around_the_packed_ones():
    frame = pd.DataFrame({"z": [1.0, 2.0, 3.0], "kind": ["a", "b", "c"], "m": [4.0, 5.0, 6.0], "n": [1, 2, 3]})
    features, _ = next(pandas_input_fn(frame, pd.Series([0.0, 1.0, 2.0]), batch_size=3, shuffle=False)()
                       .batches_as(Features))
    assert list(features) == ["z", "kind", "m", "n"]
    assert features.column_block.keys == ("z", "m")
    assert features["z"].tolist() == [1.0, 2.0, 3.0] and features["m"].tolist() == [4.0, 5.0, 6.0]
    assert features["kind"].tolist() == ["a", "b", "c"] and features["n"].tolist() == [1, 2, 3]


def test_packed_columns_stay_float32_under_a_float64_default_dtype():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        batch = next(iter(numpy_input_fn({"a": np.arange(4, dtype=np.float32), "b": np.ones(4, np.float32)},
                                         batch_size=2, shuffle=False)()))
    finally:
        torch.set_default_dtype(previous)
    assert {key: column.dtype for key, column in batch.items()} == {"a": torch.float32, "b": torch.float32}


def test_a_column_that_requires_grad_is_not_packed_and_every_batch_backpropagates_into_it():
    # Copied into the table, it would tie every batch to one autograd graph (CopySlices): the
    # second batch's backward would fail as a second pass through a freed graph.
    weights = torch.arange(4.0, requires_grad=True)
    columns = {"a": torch.ones(4), "b": torch.zeros(4), "w": weights}
    assert PackedColumns.pack(columns).keys == ("a", "b")
    for batch in numpy_input_fn(columns, batch_size=2, shuffle=False)():
        (batch["w"] * 2).sum().backward()
    assert weights.grad.tolist() == [2.0, 2.0, 2.0, 2.0]


@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_for_another_device_move_the_packed_columns_as_one_tensor(shuffle):
    from torch_estimator.loops.batches import LazyFeatures, iterate_batches

    x = {"a": np.arange(6.0), "b": np.arange(6.0) * 2, "k": np.arange(6), "s": np.array(list("uvwxyz"))}
    batches = numpy_input_fn(x, np.arange(6.0), batch_size=4, shuffle=shuffle)()
    meta = torch.device("meta")  # shapes and devices without data: what a GPU run would move
    features, labels = next(iterate_batches(batches, repeat_single=False, device=meta))
    block = features.column_block
    assert type(features) is Features and block.values.device == meta and tuple(block.values.shape) == (4, 2)
    assert features["a"]._base is block.values and features["b"]._base is block.values  # views of the one copy
    assert features["k"].device == meta and labels.device == meta and tuple(labels.shape) == (4,)
    assert isinstance(features["s"], np.ndarray) and len(features["s"]) == 4  # strings stay on the host
    lazy, _ = next(iterate_batches(batches, repeat_single=False, device=meta, lazy_features=True))
    assert type(lazy) is LazyFeatures and lazy.column_block.values.device == meta
    bare, _ = next(iterate_batches(numpy_input_fn(np.ones((4, 3)), np.ones(4), batch_size=2, shuffle=shuffle)(),
                                   repeat_single=False, device=meta))
    assert bare.device == meta and tuple(bare.shape) == (2, 3)
