"""``WarmStartSettings``: initialise some weights from another run's checkpoint.

The other run may be this project's (a ``model_dir`` or ``model.ckpt-<step>`` directory) or
TensorFlow's: a TF Estimator ``model_dir`` or checkpoint prefix is read without TensorFlow
(:mod:`torch_estimator.checkpoint.tf_checkpoint`), the canned estimators' weights found under
TensorFlow's names and dense kernels transposed into torch's ``[out, in]`` layout.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from torch_estimator.checkpoint import storage
from torch_estimator.checkpoint.index import read_index
from torch_estimator.checkpoint.tf_checkpoint import read_tf_checkpoint, tf_checkpoint_prefix, tf_variable_name
from torch_estimator.errors import message


@dataclasses.dataclass(frozen=True)
class WarmStartSettings:
    """Which weights to take from which checkpoint (TensorFlow's ``WarmStartSettings``).

    Applied only when ``model_dir`` has no checkpoint of its own yet, to each module when
    ``est.get_module`` creates it. Optimizer state is not warm-started.

    Args:
        ckpt_to_initialize_from: A ``model_dir`` (its latest checkpoint is used) or a
            ``model.ckpt-<step>`` directory; or a TensorFlow Estimator's ``model_dir`` or
            checkpoint prefix (``.../model.ckpt-1000``), whose variables are matched by
            TensorFlow's names (see :func:`~torch_estimator.checkpoint.tf_checkpoint.tf_variable_name`).
        vars_to_warm_start: One regex, matched against trainable parameter names
            (``net.weight``); or a list of regexes, matched against all module state
            (parameters and buffers, e.g. BatchNorm statistics), as TensorFlow.
        var_name_to_prev_var_name: ``{new name: name in the checkpoint}`` for renamed weights
            (a TensorFlow name for a TensorFlow checkpoint; a 2-D weight read from a name ending
            in ``/kernel`` is transposed, as Keras and TF layers store ``[in, out]``).

    Example:
        >>> settings = WarmStartSettings("/tmp/previous_run", vars_to_warm_start="encoder.*")
        >>> settings.vars_to_warm_start
        'encoder.*'
    """

    ckpt_to_initialize_from: str
    vars_to_warm_start: str | Sequence[str] | None = ".*"
    var_name_to_prev_var_name: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        path = os.fspath(self.ckpt_to_initialize_from)
        object.__setattr__(self, "ckpt_to_initialize_from", path)
        patterns = [self.vars_to_warm_start] if isinstance(self.vars_to_warm_start, str) else (
            self.vars_to_warm_start or [])
        for pattern in patterns:
            try:
                re.compile(pattern)
            except (re.error, TypeError) as error:
                raise ValueError(message("vars_to_warm_start holds an invalid regular expression",
                                         fix="Fix the pattern", pattern=pattern)) from error

    def checkpoint_path(self) -> str:
        """The checkpoint directory to read from."""
        path = self.ckpt_to_initialize_from
        if os.path.exists(os.path.join(path, storage.MANIFEST)):
            return path
        latest = read_index(path).latest
        if latest:
            return os.path.join(path, latest)
        raise ValueError(message("warm_start_from names no checkpoint",
                                 expected="a model_dir with a 'checkpoint' index, or a model.ckpt-<step> "
                                          "directory", fix="Point it at a trained model_dir", path=path))

    def wanted(self, name: str, module: nn.Module) -> list[str]:
        """Registry keys (``<name>.<key>``) of ``module`` that this setting warm-starts."""
        if isinstance(self.vars_to_warm_start, str):
            keys = [f"{name}.{key}" for key, p in module.named_parameters() if p.requires_grad]
            patterns = [self.vars_to_warm_start]
        else:
            keys = list(storage.module_state(name, module))
            patterns = list(self.vars_to_warm_start or [])
        if self.vars_to_warm_start is None:
            keys = [key for key in keys if key in (self.var_name_to_prev_var_name or {})]
            return keys
        return [key for key in keys if any(re.match(pattern, key) for pattern in patterns)]


def warm_start_module(settings: WarmStartSettings, name: str, module: nn.Module) -> list[str]:
    """Loads the selected weights of ``module``; returns the keys loaded."""
    wanted = settings.wanted(name, module)
    if not wanted:
        return []
    prefix = tf_checkpoint_prefix(settings.ckpt_to_initialize_from)
    if prefix is not None:
        return _warm_start_from_tf(settings, prefix, name, module, wanted)
    path = settings.checkpoint_path()
    available = storage.keys(path)
    rename = dict(settings.var_name_to_prev_var_name or {})
    missing = [key for key in wanted if f"model.{rename.get(key, key)}" not in available]
    if missing:
        raise ValueError(message("warm_start_from selects weights that the checkpoint does not have",
                                 expected=f"keys present in {path}",
                                 fix="Narrow vars_to_warm_start, or map names with var_name_to_prev_var_name",
                                 missing=missing[:5]))
    state = storage.module_state(name, module)
    request = {"model": {rename.get(key, key): state[key] for key in wanted}}
    storage.load_into(request, path)
    module.load_state_dict({key[len(name) + 1:]: request["model"][rename.get(key, key)] for key in wanted},
                           strict=False)
    return wanted


def _warm_start_from_tf(settings: WarmStartSettings, prefix: str, name: str, module: nn.Module,
                        wanted: list[str]) -> list[str]:
    """:func:`warm_start_module` from a TensorFlow checkpoint."""
    variables = _tf_variables(prefix, os.path.getmtime(f"{prefix}.index"))
    rename = dict(settings.var_name_to_prev_var_name or {})
    state = module.state_dict()
    loaded, missing, wrong = {}, [], []
    for key in wanted:
        tf_name = rename.get(key) or tf_variable_name(key)
        if tf_name is None:
            continue
        if tf_name not in variables:
            missing.append(f"{key} (as {tf_name})")
            continue
        value, target = variables[tf_name], state[key[len(name) + 1:]]
        if tf_name.endswith("/kernel") and value.ndim == 2:
            value = value.T  # TensorFlow's [in, out] -> torch's [out, in]
        if tuple(value.shape) != tuple(target.shape):
            wrong.append(f"{key}: {tuple(target.shape)} vs {tf_name}: {tuple(value.shape)}")
            continue
        loaded[key[len(name) + 1:]] = torch.as_tensor(np.ascontiguousarray(value), dtype=target.dtype)
    if missing or wrong:
        raise ValueError(message(
            "warm_start_from selects weights that the TensorFlow checkpoint does not have" if missing else
            "warm_start_from's TensorFlow checkpoint has weights of other shapes",
            expected=f"variables of {prefix} with the same shapes; it has {sorted(variables)[:8]}...",
            fix="Narrow vars_to_warm_start, or map names with var_name_to_prev_var_name={our name: TF name}",
            missing=missing[:5], other_shapes=wrong[:5]))
    module.load_state_dict(loaded, strict=False)
    return [key for key in wanted if key[len(name) + 1:] in loaded]


@functools.lru_cache(maxsize=2)
def _tf_variables(prefix: str, modified: float) -> dict[str, np.ndarray]:
    """The checkpoint, read once for all the modules it warm-starts (``modified`` keys the cache)."""
    del modified
    return read_tf_checkpoint(prefix)
