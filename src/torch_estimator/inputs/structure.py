"""Turning what an ``input_fn`` yields (numpy arrays, tensors, dicts of them) into tensors.

One rule for every input path, so a numpy array and the tensor made from it behave the same:

* tensors pass through unchanged (moved to the device when one is given);
* numeric numpy arrays become tensors; ``float64`` becomes ``torch.get_default_dtype()``
  (float32 unless changed), as Keras does, because a float64 batch fed to float32 weights is
  the most common first error of a migrated input pipeline;
* string and object arrays stay numpy arrays (feature columns turn them into ids later);
* Python scalars and lists are converted like numpy arrays; ragged lists (rows of different
  lengths, e.g. class-id lists for a multi-label head) stay lists;
* dicts, tuples and lists are converted element by element.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch


def to_tensor(value: Any, device: torch.device | str | None = None) -> Any:
    """Converts one leaf (array, tensor, scalar) following the module's rules."""
    if type(value) is torch.Tensor and device is None:  # the per-batch common case: nothing to do
        return value
    if isinstance(value, torch.Tensor):
        return value if device is None else value.to(device, non_blocking=True)
    if not isinstance(value, np.ndarray):
        try:
            value = np.asarray(value)
        except ValueError:  # ragged: numpy refuses "an inhomogeneous shape"
            return value
    if value.dtype.kind in "OUS":
        return value
    if value.ndim == 0:  # np.ascontiguousarray would turn a scalar into shape [1]
        tensor = torch.as_tensor(value.item())
        if value.dtype == np.float64:
            tensor = tensor.to(torch.get_default_dtype())
    elif value.dtype == np.float64:
        tensor = torch.from_numpy(np.ascontiguousarray(value)).to(torch.get_default_dtype())
    else:
        tensor = torch.from_numpy(np.ascontiguousarray(value))
    return tensor if device is None else tensor.to(device, non_blocking=True)


def to_tensors(structure: Any, device: torch.device | str | None = None) -> Any:
    """Applies :func:`to_tensor` to every leaf of a dict / tuple / list structure."""
    if structure is None:
        return None
    if type(structure) is dict:  # exact-type checks first: ABC isinstance is slow per batch
        return {key: to_tensor(value, device) if type(value) is torch.Tensor else to_tensors(value, device)
                for key, value in structure.items()}
    if isinstance(structure, Mapping):
        return {key: to_tensors(value, device) for key, value in structure.items()}
    if isinstance(structure, tuple):
        return tuple(to_tensors(value, device) for value in structure)
    if isinstance(structure, list) and structure and isinstance(structure[0], (Mapping, torch.Tensor, np.ndarray)):
        return [to_tensors(value, device) for value in structure]
    return to_tensor(structure, device)


def batch_size_of(structure: Any) -> int | None:
    """The leading dimension of the first array-like leaf, or None for scalars/empty.

    A features dict of packed columns answers from its block, so that a lazy batch
    (``loops.batches.LazyFeatures``) is not made to build its columns just to be measured.
    """
    block = getattr(structure, "column_block", None)
    if block is not None:
        return int(block.values.shape[0])
    if isinstance(structure, Mapping):
        for value in structure.values():
            size = batch_size_of(value)
            if size is not None:
                return size
        return None
    if isinstance(structure, (tuple, list)):
        for value in structure:
            size = batch_size_of(value)
            if size is not None:
                return size
        return None
    shape = getattr(structure, "shape", None)
    if shape is None or len(shape) == 0:
        return None
    return int(shape[0])
