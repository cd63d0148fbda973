"""``pandas_input_fn``: batches of DataFrame rows (TensorFlow's ``pandas_input_fn``).

A thin layer over ``numpy_input_fn``'s batching: the DataFrame becomes a dict of column arrays
and the same :class:`~torch_estimator.inputs.numpy_io.ArrayBatches` slices it. pandas is an
optional dependency, imported only when this function is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from torch_estimator.errors import message
from torch_estimator.inputs.numpy_io import ArrayBatches, as_array, check_batching_args, make_input_fn

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["pandas_input_fn"]


def pandas_input_fn(x: pd.DataFrame, y: pd.Series | pd.DataFrame | None = None, batch_size: int = 128,
                    num_epochs: int | None = 1, shuffle: bool | None = None, queue_capacity: int = 1000,
                    num_threads: int = 1, target_column: str = "target") -> Callable[[], ArrayBatches]:
    """Returns an ``input_fn`` that yields batches of rows of a pandas DataFrame.

    Features are a dict from column name to a 1-D batch, in the DataFrame's column order;
    numeric columns become tensors (``float64`` becomes float32), string columns stay numpy
    arrays. Labels follow ``y``: a Series gives a 1-D tensor, a one-column DataFrame too, and a
    DataFrame of several columns a dict by column name. Batching, epochs and shuffling are
    ``numpy_input_fn``'s.

    Args:
        x: The features, one column per feature.
        y: The labels, with the same index as ``x``; None for features-only batches.
        batch_size: Rows per batch; only the very last batch of a finite stream can be smaller.
        num_epochs: Passes over the data; None repeats forever.
        shuffle: Whether to permute the rows every epoch, from torch's global RNG. Required.
        queue_capacity: Accepted for compatibility; unused (nothing is queued). A positive int.
        num_threads: Accepted for compatibility; unused (no feeder threads). A positive int.
        target_column: The name TensorFlow gave the label column inside ``x``; it must not
            already be a column of ``x`` when ``y`` is given, as in TensorFlow. Otherwise unused.

    Returns:
        A no-argument ``input_fn`` returning re-iterable batches.

    Raises:
        ImportError: pandas is not installed.
        ValueError: ``shuffle`` is not a bool; a count is not positive; ``x`` has no columns,
            duplicate column names, or a column named ``target_column``; ``x`` and ``y`` have
            different indexes; ``y`` has no columns.
        TypeError: ``x`` is not a DataFrame, ``y`` not a Series or DataFrame, or
            ``target_column`` not a string; a column's dtype has no tensor equivalent.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"age": [20.0, 31.0, 42.0], "city": ["Oslo", "Rome", "Oslo"]})
        >>> input_fn = pandas_input_fn(frame, pd.Series([0, 1, 1]), batch_size=2, shuffle=False)
        >>> features, labels = next(iter(input_fn()))
        >>> features["age"], features["city"], labels
        (tensor([20., 31.]), array(['Oslo', 'Rome'], dtype=object), tensor([0, 1]))
    """
    pd = _import_pandas()
    check_batching_args(batch_size=batch_size, num_epochs=num_epochs, shuffle=shuffle,
                        queue_capacity=queue_capacity, num_threads=num_threads)
    _check_features(pd, x)
    if not isinstance(target_column, str):
        raise TypeError(message("target_column must be a string", expected="a column name (str)",
                                target_column=target_column))
    labels = None if y is None else _labels(pd, x, y, target_column)
    # Label names may repeat feature names here (TensorFlow allowed it), so build directly on
    # numpy_input_fn's batching rather than through its x/y key checks.
    features = {column: _column_array(x[column], f"x[{column!r}]") for column in x.columns}
    return make_input_fn(features, labels, batch_size, num_epochs, shuffle)


def _import_pandas() -> Any:
    try:
        import pandas
    except ImportError as error:
        raise ImportError(message(
            "pandas_input_fn needs pandas, which is not installed",
            fix="Install it: pip install pandas (or pip install 'torch-estimator[pandas]')")) from error
    return pandas


def _check_features(pd: Any, x: Any) -> None:
    if not isinstance(x, pd.DataFrame):
        raise TypeError(message("x must be a pandas DataFrame", expected="a DataFrame with one column per feature",
                                fix="Use numpy_input_fn for arrays", **{"type(x)": type(x).__name__}))
    if len(x.columns) == 0:
        raise ValueError(message("x has no columns", expected="at least one feature column",
                                 **{"x.shape": x.shape}))
    if not x.columns.is_unique:
        duplicated = sorted(set(x.columns[x.columns.duplicated()]), key=str)
        raise ValueError(message("x has duplicate column names", expected="unique column names",
                                 fix="Rename the columns", duplicated=duplicated))


def _labels(pd: Any, x: Any, y: Any, target_column: str) -> Any:
    """The label array (Series or one column) or dict of arrays (several columns)."""
    if not isinstance(y, (pd.Series, pd.DataFrame)):
        raise TypeError(message("y must be a pandas Series or DataFrame", expected="a Series, a DataFrame or None",
                                fix="Wrap it, e.g. pd.Series(y, index=x.index)", **{"type(y)": type(y).__name__}))
    if target_column in x.columns:
        raise ValueError(message(
            "target_column names a column x already has", expected="a name that is not a column of x",
            fix="Pass another target_column, or drop the label column from x",
            target_column=target_column, columns=list(x.columns)))
    if not np.array_equal(x.index, y.index):
        raise ValueError(message(
            "Index for x and y are mismatched", expected="x.index and y.index to be equal, row for row",
            fix="Align them, e.g. y = y.loc[x.index], or reset both with .reset_index(drop=True) "
                "when rows already correspond",
            x_index=x.index, y_index=y.index))
    if isinstance(y, pd.Series):
        return _column_array(y, "y")
    if len(y.columns) == 0:
        raise ValueError(message("y has no columns", expected="at least one label column",
                                 fix="Pass y=None for features-only batches", **{"y.shape": y.shape}))
    if len(y.columns) == 1:
        return _column_array(y.iloc[:, 0], f"y[{y.columns[0]!r}]")
    if not y.columns.is_unique:
        raise ValueError(message("y has duplicate column names", expected="unique column names",
                                 fix="Rename the columns", columns=list(y.columns)))
    return {column: _column_array(y[column], f"y[{column!r}]") for column in y.columns}


def _column_array(series: Any, name: str) -> np.ndarray:
    # Strings (pandas' "str" dtype included) come back as object arrays, which stay numpy.
    return as_array(series.to_numpy(), name)
