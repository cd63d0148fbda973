"""Reading and writing one checkpoint directory with ``torch.distributed.checkpoint`` (DCP).

A checkpoint ``model.ckpt-<step>/`` holds DCP's files and a ``manifest.json`` with the size and
CRC32 of each file. It is written under a temporary name and renamed when complete, so a crash
never leaves a half-written checkpoint under a real name; the manifest catches later damage
(a truncated or corrupted file), and the reader then falls back to an older checkpoint.

Keys inside a checkpoint (DCP flattens nested dicts with dots):

* ``model.<module name>.<parameter>``: the weights of every ``est.get_module`` module;
* ``optimizer.<optimizer name>.state|param_groups...``: optimizer state keyed by parameter name
  (``torch.distributed.checkpoint.state_dict``), so it reshards and survives reordering;
* ``global_step``, ``rng.torch`` (and ``rng.cuda``), ``scaler.*``, ``extra.*``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
import zlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from torch_estimator.durable import fsync_directory, write_text_atomically
from torch_estimator.errors import CheckpointError, message

MANIFEST = "manifest.json"


def _dcp() -> Any:
    """``torch.distributed.checkpoint``, imported on first use: it adds ~47 MB to every process
    (data readers, servers) that imports torch_estimator but never touches a checkpoint."""
    import torch.distributed.checkpoint as dcp

    return dcp


@contextlib.contextmanager
def _quiet_single_process() -> Iterator[None]:
    """DCP's reads (and most writes) here are by one process (``no_dist``): under data
    parallelism the values are the same on every rank, so the chief writes them alone and every
    rank reads them, at any world size; under FSDP each rank reads the parts of its own shards
    alone too. DCP warns on every call without a process group; that use is intended."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def save_state(state_dict: dict[str, Any], path: str) -> None:
    """Writes ``state_dict`` to the checkpoint directory ``path`` atomically (one writer)."""
    tmp = temporary_path(path)
    write_files(state_dict, tmp, path, collective=False)
    commit(tmp, path)


def temporary_path(path: str) -> str:
    """The name checkpoint ``path`` is written under until it is complete (this process's)."""
    parent, name = os.path.split(path)
    return os.path.join(parent, f".{name}.tmp-{os.getpid()}")


def write_files(state_dict: dict[str, Any], tmp: str, path: str, *, collective: bool) -> None:
    """DCP's files of ``state_dict`` in ``tmp``.

    ``collective``: every rank calls it with its shards (sharded ``DTensor``s) and writes its own
    file; rank 0 writes DCP's ``.metadata`` once every rank's files are written (DCP's own
    gather), so the checkpoint is complete on every rank when this returns. Values that are not
    sharded are written once.
    """
    dcp = _dcp()
    if not collective:
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        with _quiet_single_process():
            dcp.save(state_dict, checkpoint_id=tmp, no_dist=not collective)
    except (Exception, dcp.CheckpointException) as error:  # DCP's is a BaseException
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(message("Could not write checkpoint", fix="Check free disk space and "
                                      "permissions of model_dir", path=path, error=_describe(error))) from error


def commit(tmp: str, path: str) -> None:
    """Writes the manifest of the complete files in ``tmp`` and renames ``tmp`` to ``path``."""
    parent, name = os.path.split(path)
    _write_manifest(tmp)
    old = None
    if os.path.exists(path):  # re-saving the same step (e.g. after a restart): swap, then delete
        old = os.path.join(parent, f".{name}.old-{os.getpid()}")
        os.replace(path, old)
    os.replace(tmp, path)
    fsync_directory(parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _describe(error: BaseException) -> str:
    """The underlying causes of a DCP error (its text only lists the failing ranks)."""
    failures = getattr(error, "failures", None)
    if failures:
        return "; ".join(f"rank {rank}: {cause!r}"[:300] for rank, cause in failures.items())
    return f"{type(error).__name__}: {error}"[:300]


def _write_manifest(directory: str) -> None:
    files = {name: [os.path.getsize(os.path.join(directory, name)), _crc32(os.path.join(directory, name))]
             for name in sorted(os.listdir(directory))}
    write_text_atomically(os.path.join(directory, MANIFEST), json.dumps({"format": "torch_estimator/dcp-1",
                                                                          "files": files}))


def _crc32(path: str) -> int:
    crc = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            crc = zlib.crc32(chunk, crc)
    return crc


def verify(path: str) -> None:
    """Raises :class:`CheckpointError` unless every file matches the manifest."""
    try:
        with open(os.path.join(path, MANIFEST), encoding="utf-8") as f:
            files = json.load(f)["files"]
    except (OSError, ValueError, KeyError) as error:
        raise CheckpointError(f"{path}: unreadable manifest ({error})") from error
    for name, (size, crc) in files.items():
        file = os.path.join(path, name)
        if not os.path.exists(file) or os.path.getsize(file) != size or _crc32(file) != crc:
            raise CheckpointError(f"{path}: {name} is missing, truncated or corrupted")


def keys(path: str) -> dict[str, Any]:
    """Flattened key -> DCP metadata (``.size`` for tensors) of the checkpoint at ``path``."""
    return dict(_dcp().FileSystemReader(path).read_metadata().state_dict_metadata)


def load_into(state_dict: dict[str, Any], path: str) -> None:
    """Loads the keys present in ``state_dict`` from ``path``, in place."""
    dcp = _dcp()
    with _quiet_single_process():
        try:
            dcp.load(state_dict, checkpoint_id=path, no_dist=True)
        except dcp.CheckpointException as error:  # a BaseException: `except Exception` would miss it
            raise CheckpointError("; ".join(str(cause) for cause, _ in error.failures.values())) from error


def load_objects(path: str, names: list[str], templates: dict[str, torch.Tensor] | None = None) -> dict[str, Any]:
    """Loads small non-tensor or tensor values (``global_step``, ``rng.torch``...) by flat key.

    ``templates``: for some keys, a tensor of the saved shape to load into instead of a new
    full tensor (a sharded ``DTensor``: only this rank's shard is read).
    """
    available = keys(path)
    request: dict[str, Any] = {}
    for name in names:
        meta = available.get(name)
        if meta is None:
            continue
        size = getattr(meta, "size", None)
        template = (templates or {}).get(name)
        if template is not None and size is not None and template.shape == size:
            request[name] = torch.empty_like(template, dtype=meta.properties.dtype)
            continue
        request[name] = torch.empty(size, dtype=meta.properties.dtype) if size is not None else 0
    if request:
        load_into(request, path)
    return request


def module_state(name: str, module: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{name}.{key}": value for key, value in module.state_dict().items()}


def load_module(path: str, name: str, module: nn.Module, rename: dict[str, str] | None = None) -> None:
    """Loads the weights of registry child ``name`` from the checkpoint at ``path``."""
    wanted = module_state(name, module)
    available = keys(path)
    source = {key: (rename or {}).get(key, key) for key in wanted}
    missing = sorted(key for key, src in source.items() if f"model.{src}" not in available)
    if missing:
        raise CheckpointError(message(
            f"The checkpoint has no values for module {name!r}",
            expected=f"keys {missing[:5]} in {path}",
            fix="The model changed since the checkpoint was written: use a new model_dir, or "
                "warm_start_from=est.WarmStartSettings(...) to load the matching parts",
            missing=missing[:5]))
    request = {"model": {source[key]: value for key, value in wanted.items()}}
    try:
        load_into(request, path)
    except Exception as error:  # shape or dtype mismatches
        raise CheckpointError(message(f"Could not load module {name!r} from {path}",
                                      fix="Check that the model's shapes match the checkpoint",
                                      error=str(error)[:300])) from error
    loaded = {key: request["model"][source[key]] for key in wanted}
    module.load_state_dict({key[len(name) + 1:]: value for key, value in loaded.items()})


def optimizer_state(registry: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(registry, optimizer)


def load_optimizer(path: str, name: str, registry: nn.Module, optimizer: torch.optim.Optimizer) -> bool:
    """Loads optimizer ``name``; False when the checkpoint has no state for it (e.g. step 0).

    The checkpoint's ``state.<param name>.<key>`` and ``param_groups.<i>.<key>`` values are
    mapped onto this optimizer's parameters by name and given to ``optimizer.load_state_dict``.
    DCP's ``set_optimizer_state_dict`` is not used here: it first runs an in-place
    zero-gradient ``step()``, which breaks backward when the optimizer is created (and so
    restored) between the forward and backward passes of a step, as ``minimize`` does.
    """
    prefix = f"optimizer.{name}."
    names: dict[int, str] = {}
    for fqn, p in registry.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), fqn)  # a shared parameter's first name, as get_optimizer_state_dict saves it
    available = [key for key in keys(path) if key.startswith(prefix)]
    values = load_objects(path, available, _shard_templates(available, prefix + "state.", registry))
    if not values:
        return False
    values = {key[len(prefix):]: value for key, value in values.items()}
    groups = [[names.get(id(p)) for p in group["params"]] for group in optimizer.param_groups]
    saved = [values.get(f"param_groups.{i}.params") for i in range(len(groups))]
    more_groups = f"param_groups.{len(groups)}.params" in values
    if more_groups or [sorted(group or []) for group in saved] != [sorted(group) for group in groups]:
        raise CheckpointError(message(f"The checkpoint's optimizer {name!r} was made for other parameters",
                                      expected=f"parameter groups {groups}", fix="Use a new model_dir, or keep "
                                      "the optimizer's parameters as they were", saved=saved, path=path))
    state: dict[int, dict[str, Any]] = {}
    native_groups = []
    for i, group in enumerate(groups):
        hyper = {key[len(f"param_groups.{i}."):]: value for key, value in values.items()
                 if key.startswith(f"param_groups.{i}.")}
        start = sum(len(g) for g in groups[:i])
        native_groups.append({**hyper, "params": list(range(start, start + len(group)))})
        for index, fqn in enumerate(group, start):
            entry = {key[len(f"state.{fqn}."):]: value for key, value in values.items()
                     if key.startswith(f"state.{fqn}.")}
            if entry:
                state[index] = entry
    optimizer.load_state_dict({"state": state, "param_groups": native_groups})
    return True


def _shard_templates(keys_: list[str], prefix: str, registry: nn.Module) -> dict[str, torch.Tensor]:
    """Optimizer state keys ``<prefix><param name>.<key>`` of sharded (FSDP) parameters -> the
    parameter: state shaped like it (Adam's moments) is then read as this rank's shard only."""
    from torch.distributed.tensor import DTensor

    sharded = {fqn: p for fqn, p in registry.named_parameters() if isinstance(p, DTensor)}
    if not sharded:
        return {}
    owners = {key: key[len(prefix):].rsplit(".", 1)[0] for key in keys_ if key.startswith(prefix)}
    return {key: sharded[fqn] for key, fqn in owners.items() if fqn in sharded}


def load_scaler(path: str, scaler: Any) -> None:
    """Loads a ``GradScaler``'s state when the checkpoint has one."""
    values = load_objects(path, [f"scaler.{key}" for key in scaler.state_dict()])
    if values:
        scaler.load_state_dict({key[len("scaler."):]: value for key, value in values.items()})
