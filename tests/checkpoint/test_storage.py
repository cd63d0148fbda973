"""One checkpoint directory: DCP files plus a manifest that catches truncation and corruption;
loading a module or optimizer from it, and the errors when the model no longer matches."""

from __future__ import annotations

import json
import os
import zlib

import pytest
import torch

import torch_estimator as est
from torch_estimator.checkpoint import storage


def _save(tmp_path, **extra):
    path = str(tmp_path / "model.ckpt-3")
    state = {"model": {"net": {"weight": torch.arange(6.0).reshape(2, 3)}}, "global_step": 3, **extra}
    storage.save_state(state, path)
    return path


def _distcp(path: str) -> str:
    (name,) = [n for n in os.listdir(path) if n.endswith(".distcp")]
    return os.path.join(path, name)


def test_save_writes_dcp_files_and_a_manifest_of_sizes_and_crcs(tmp_path):
    path = _save(tmp_path)
    assert os.listdir(tmp_path) == ["model.ckpt-3"]  # the temporary directory was renamed
    with open(os.path.join(path, storage.MANIFEST)) as f:
        manifest = json.load(f)
    assert manifest["format"] == "torch_estimator/dcp-1"
    assert set(manifest["files"]) == set(os.listdir(path)) - {storage.MANIFEST}
    for name, (size, crc) in manifest["files"].items():
        data = open(os.path.join(path, name), "rb").read()
        assert (size, crc) == (len(data), zlib.crc32(data))
    storage.verify(path)


def test_values_read_back_by_flat_key(tmp_path):
    path = _save(tmp_path)
    assert set(storage.keys(path)) == {"model.net.weight", "global_step"}
    values = storage.load_objects(path, ["model.net.weight", "global_step", "not.there"])
    assert torch.equal(values["model.net.weight"], torch.arange(6.0).reshape(2, 3))
    assert values["global_step"] == 3 and "not.there" not in values


def test_saving_over_an_existing_checkpoint_replaces_it(tmp_path):
    path = _save(tmp_path)
    storage.save_state({"global_step": 4}, path)
    assert set(storage.keys(path)) == {"global_step"}
    storage.verify(path)


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "delete"])
def test_verify_catches_a_damaged_data_file(tmp_path, damage):
    path = _save(tmp_path)
    data_file = _distcp(path)
    if damage == "flip a byte":
        data = bytearray(open(data_file, "rb").read())
        data[len(data) // 2] ^= 0xFF
        open(data_file, "wb").write(bytes(data))
    elif damage == "truncate":
        os.truncate(data_file, os.path.getsize(data_file) // 2)
    else:
        os.remove(data_file)
    with pytest.raises(est.CheckpointError, match=r"__0_0\.distcp is missing, truncated or corrupted"):
        storage.verify(path)


@pytest.mark.parametrize("manifest", [None, '{"format": "torch_', '{"format": "torch_estimator/dcp-1"}'])
def test_verify_catches_a_missing_or_unreadable_manifest(tmp_path, manifest):
    path = _save(tmp_path)
    if manifest is None:
        os.remove(os.path.join(path, storage.MANIFEST))
    else:
        open(os.path.join(path, storage.MANIFEST), "w").write(manifest)
    with pytest.raises(est.CheckpointError, match="unreadable manifest"):
        storage.verify(path)


def test_load_module_errors_name_the_module_and_the_fix(tmp_path):
    path = _save(tmp_path)
    with pytest.raises(est.CheckpointError, match=r"The checkpoint has no values for module 'head'.*"
                                                  r"\['head.bias', 'head.weight'\].*use a new model_dir"):
        storage.load_module(path, "head", torch.nn.Linear(3, 2))
    with pytest.raises(est.CheckpointError, match=r"Could not load module 'net' from .*model.ckpt-3\. "
                                                  r"Received: error='Size mismatch between saved "
                                                  r"torch.Size\(\[2, 3\]\) and current: torch.Size\(\[2, 4\]\) "
                                                  r"for model.net.weight'.*shapes match the checkpoint"):
        storage.load_module(path, "net", torch.nn.Linear(4, 2, bias=False))
    module = torch.nn.Linear(3, 2, bias=False)
    storage.load_module(path, "net", module)
    assert torch.equal(module.weight.detach(), torch.arange(6.0).reshape(2, 3))


def test_load_module_can_rename(tmp_path):
    path = _save(tmp_path)
    module = torch.nn.Linear(3, 2, bias=False)
    storage.load_module(path, "body", module, rename={"body.weight": "net.weight"})
    assert torch.equal(module.weight.detach(), torch.arange(6.0).reshape(2, 3))


def _registry_and_adam():
    registry = torch.nn.ModuleDict({"net": torch.nn.Linear(3, 2), "head": torch.nn.Linear(2, 1)})
    optimizer = torch.optim.Adam([{"params": registry["net"].parameters(), "lr": 0.1},
                                  {"params": registry["head"].parameters(), "lr": 0.2}])
    return registry, optimizer


def test_optimizer_state_round_trips_by_parameter_name(tmp_path):
    registry, optimizer = _registry_and_adam()
    registry["head"](registry["net"](torch.ones(4, 3))).sum().backward()
    optimizer.step()
    path = str(tmp_path / "model.ckpt-1")
    storage.save_state({"optimizer": {"opt": storage.optimizer_state(registry, optimizer)}}, path)

    fresh_registry, fresh = _registry_and_adam()
    # Loading must not touch the parameters in place: restoring happens between the forward and
    # backward of the step that creates the optimizer, where autograd needs the saved versions.
    loss = fresh_registry["head"](fresh_registry["net"](torch.ones(4, 3))).square().sum()
    assert storage.load_optimizer(path, "opt", fresh_registry, fresh)
    loss.backward()
    expected, actual = optimizer.state_dict(), fresh.state_dict()
    assert [g["lr"] for g in actual["param_groups"]] == [0.1, 0.2]
    assert actual["param_groups"] == expected["param_groups"]
    for index, entry in expected["state"].items():
        assert entry.keys() == actual["state"][index].keys()
        assert all(torch.equal(entry[key], actual["state"][index][key]) for key in entry)
    assert storage.load_optimizer(path, "other", fresh_registry, fresh) is False


def test_optimizer_made_for_other_parameters_is_a_clear_error(tmp_path):
    registry, optimizer = _registry_and_adam()
    registry["head"](registry["net"](torch.ones(4, 3))).sum().backward()
    optimizer.step()
    path = str(tmp_path / "model.ckpt-1")
    storage.save_state({"optimizer": {"opt": storage.optimizer_state(registry, optimizer)}}, path)
    only_head = torch.optim.Adam(registry["head"].parameters())
    with pytest.raises(est.CheckpointError, match=r"The checkpoint's optimizer 'opt' was made for other "
                                                  r"parameters.*\[\['head.weight', 'head.bias'\]\]"):
        storage.load_optimizer(path, "opt", registry, only_head)
