"""Tests for ``pandas_input_fn``: columns to features, label forms, TF's checks, every error."""

from __future__ import annotations

import re
import sys
import warnings

import numpy as np
import pytest
import torch

from torch_estimator.inputs.pandas_io import pandas_input_fn

pd = pytest.importorskip("pandas")


@pytest.fixture
def frame():
    return pd.DataFrame({"b": np.arange(5.0), "a": np.arange(5), "city": [f"c{i}" for i in range(5)]})


def test_columns_become_features_in_column_order(frame):
    batches = list(pandas_input_fn(frame, pd.Series(np.arange(5) * 10), batch_size=2, shuffle=False)())
    features, labels = batches[0]
    assert list(features) == ["b", "a", "city"]
    assert features["b"].dtype == torch.float32 and features["b"].shape == (2,)
    assert features["a"].dtype == torch.int64
    assert isinstance(features["city"], np.ndarray) and features["city"].tolist() == ["c0", "c1"]
    assert labels.shape == (2,) and labels.tolist() == [0, 10]
    assert [len(labels) for _, labels in batches] == [2, 2, 1]


def test_without_y_batches_are_features_only(frame):
    batch = next(iter(pandas_input_fn(frame, batch_size=5, shuffle=False)()))
    assert isinstance(batch, dict) and batch["a"].tolist() == [0, 1, 2, 3, 4]


def test_single_column_dataframe_labels_are_one_dimensional(frame):
    _, labels = next(iter(pandas_input_fn(frame, pd.DataFrame({"y": np.arange(5.0)}), batch_size=3, shuffle=False)()))
    assert isinstance(labels, torch.Tensor) and labels.shape == (3,) and labels.dtype == torch.float32


def test_multi_column_dataframe_labels_are_a_dict(frame):
    y = pd.DataFrame({"price": np.arange(5.0), "sold": [0, 1, 0, 1, 1]})
    _, labels = next(iter(pandas_input_fn(frame, y, batch_size=3, shuffle=False)()))
    assert list(labels) == ["price", "sold"]
    assert labels["sold"].tolist() == [0, 1, 0]


def test_label_columns_may_share_names_with_features(frame):
    # TensorFlow allowed it (labels were renamed internally); autoencoders rely on it.
    y = pd.DataFrame({"a": np.arange(5), "b": np.arange(5.0)})
    features, labels = next(iter(pandas_input_fn(frame, y, batch_size=5, shuffle=False)()))
    assert torch.equal(features["a"], labels["a"])


def test_epochs_and_shuffle_are_numpy_input_fns(frame):
    input_fn = pandas_input_fn(frame, pd.Series(np.arange(5)), batch_size=2, num_epochs=2, shuffle=True)
    torch.manual_seed(3)
    batches = list(input_fn())
    labels = [v for _, batch_labels in batches for v in batch_labels.tolist()]
    assert sorted(labels[:5]) == sorted(labels[5:]) == [0, 1, 2, 3, 4]
    for features, batch_labels in batches:
        assert features["city"].tolist() == [f"c{i}" for i in batch_labels.tolist()]
    torch.manual_seed(3)
    assert [v for _, batch_labels in input_fn() for v in batch_labels.tolist()] == labels


def test_read_only_pandas_columns_convert_without_warning(frame):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        features = next(iter(pandas_input_fn(frame, batch_size=5, shuffle=False)()))
    assert features["a"].tolist() == [0, 1, 2, 3, 4]


def test_missing_pandas_asks_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=re.escape("pandas_input_fn needs pandas, which is not installed. "
                                                    "Install it: pip install pandas")):
        pandas_input_fn(object(), shuffle=False)


def test_shuffle_must_be_a_bool(frame):
    with pytest.raises(ValueError, match=re.escape("shuffle must be provided explicitly as a bool. "
                                                   "Expected True or False. Received: shuffle=None")):
        pandas_input_fn(frame)


def test_counts_are_validated(frame):
    with pytest.raises(ValueError, match=re.escape("batch_size must be positive. Expected an int > 0. "
                                                   "Received: batch_size=0")):
        pandas_input_fn(frame, batch_size=0, shuffle=False)


def test_x_must_be_a_dataframe():
    with pytest.raises(TypeError, match=re.escape("x must be a pandas DataFrame. Expected a DataFrame with one "
                                                  "column per feature. Received: type(x)='ndarray'.")):
        pandas_input_fn(np.arange(3), shuffle=False)


def test_x_needs_columns():
    with pytest.raises(ValueError, match=re.escape("x has no columns. Expected at least one feature column. "
                                                   "Received: x.shape=(3, 0).")):
        pandas_input_fn(pd.DataFrame(index=range(3)), shuffle=False)


def test_x_columns_must_be_unique():
    x = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
    with pytest.raises(ValueError, match=re.escape("x has duplicate column names. Expected unique column names. "
                                                   "Received: duplicated=['a'].")):
        pandas_input_fn(x, shuffle=False)


def test_target_column_must_be_a_string(frame):
    with pytest.raises(TypeError, match=re.escape("target_column must be a string. Expected a column name (str). "
                                                  "Received: target_column=3.")):
        pandas_input_fn(frame, pd.Series(np.arange(5)), shuffle=False, target_column=3)


def test_y_must_be_a_series_or_dataframe(frame):
    with pytest.raises(TypeError, match=re.escape("y must be a pandas Series or DataFrame. Expected a Series, a "
                                                  "DataFrame or None. Received: type(y)='ndarray'.")):
        pandas_input_fn(frame, np.arange(5), shuffle=False)


def test_target_column_may_not_already_be_a_column_of_x(frame):
    x = frame.assign(target=1)
    y = pd.Series(np.arange(5))
    with pytest.raises(ValueError, match=re.escape("target_column names a column x already has. Expected a name "
                                                   "that is not a column of x. Received: target_column='target'")):
        pandas_input_fn(x, y, shuffle=False)
    features, _ = next(iter(pandas_input_fn(x, y, shuffle=False, target_column="label")()))
    assert "target" in features


@pytest.mark.parametrize("y_index", [[0, 1, 2, 3, 5], [4, 3, 2, 1, 0], [0, 1, 2]])
def test_indexes_of_x_and_y_must_be_equal(frame, y_index):
    y = pd.Series(np.arange(len(y_index)), index=y_index)
    with pytest.raises(ValueError, match=re.escape("Index for x and y are mismatched. Expected x.index and "
                                                   "y.index to be equal, row for row. Received: x_index=")):
        pandas_input_fn(frame, y, shuffle=False)


def test_y_dataframe_needs_columns(frame):
    with pytest.raises(ValueError, match=re.escape("y has no columns. Expected at least one label column. "
                                                   "Received: y.shape=(5, 0).")):
        pandas_input_fn(frame, pd.DataFrame(index=frame.index), shuffle=False)


def test_y_columns_must_be_unique(frame):
    y = pd.DataFrame(np.zeros((5, 2)), columns=["p", "p"])
    with pytest.raises(ValueError, match=re.escape("y has duplicate column names. Expected unique column names. "
                                                   "Received: columns=['p', 'p'].")):
        pandas_input_fn(frame, y, shuffle=False)


def test_columns_without_a_tensor_equivalent_are_rejected():
    x = pd.DataFrame({"day": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    with pytest.raises(TypeError, match=re.escape("x['day'] has a dtype with no tensor equivalent. Expected a "
                                                  "numeric, bool or string dtype. Received: x['day'].dtype='datetime64")):
        pandas_input_fn(x, shuffle=False)
