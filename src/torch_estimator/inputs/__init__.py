"""``est.inputs``: TensorFlow's ``numpy_input_fn`` and ``pandas_input_fn``."""

from torch_estimator.inputs.numpy_io import numpy_input_fn
from torch_estimator.inputs.pandas_io import pandas_input_fn

__all__ = ["numpy_input_fn", "pandas_input_fn"]
