"""``WarmStartSettings``: initialise some weights from another run's checkpoint."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence

from torch import nn

from torch_estimator.checkpoint import storage
from torch_estimator.checkpoint.index import read_index
from torch_estimator.errors import message


@dataclasses.dataclass(frozen=True)
class WarmStartSettings:
    """Which weights to take from which checkpoint (TensorFlow's ``WarmStartSettings``).

    Applied only when ``model_dir`` has no checkpoint of its own yet, to each module when
    ``est.get_module`` creates it. Optimizer state is not warm-started.

    Args:
        ckpt_to_initialize_from: A ``model_dir`` (its latest checkpoint is used) or a
            ``model.ckpt-<step>`` directory.
        vars_to_warm_start: One regex, matched against trainable parameter names
            (``net.weight``); or a list of regexes, matched against all module state
            (parameters and buffers, e.g. BatchNorm statistics), as TensorFlow.
        var_name_to_prev_var_name: ``{new name: name in the checkpoint}`` for renamed weights.

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
