"""FSDP's sharded checkpoints restore at the same world size, in one process, and from DDP's.

Each run continues a step-8 checkpoint of ``phase_one`` to step 12: every result must match one
process continuing its own step-8 checkpoint, which needs the weights and Adam's moments
restored exactly (whatever the layout they were written in).
"""

from __future__ import annotations

import pytest
import torch

from distributed_runs import copy_model_dir, launch, phase_one_runs


@pytest.fixture(scope="module")
def phase_one(tmp_path_factory):
    return phase_one_runs(tmp_path_factory)


RESUMES = {"reference": ("one", "one"), "fsdp_to_fsdp": ("fsdp", "fsdp"), "fsdp_to_one": ("fsdp", "one"),
           "ddp_to_fsdp": ("ddp", "fsdp")}
"""Run name: (who wrote the step-8 checkpoint, who continues it)."""


@pytest.fixture(scope="module")
def resumed(phase_one, tmp_path_factory):
    """``resumed(name)``: the run ``name`` of :data:`RESUMES` (made on first use)."""
    root = tmp_path_factory.mktemp("resumed")
    runs: dict = {}

    def get(name: str) -> dict:
        if name not in runs:
            written_by, how = RESUMES[name]
            model_dir = copy_model_dir(phase_one[written_by]["model_dir"], root / f"model_{name}")
            runs[name] = launch(how, model_dir, root / f"out_{name}", 12)
        return runs[name]

    return get


@pytest.mark.parametrize("name", ["fsdp_to_fsdp", "fsdp_to_one",
                                  pytest.param("ddp_to_fsdp", marks=pytest.mark.slow)])
def test_a_checkpoint_resumes_to_the_weights_of_one_process(resumed, name):
    reference = resumed("reference")["reports"][0]
    run = resumed(name)
    assert f"Restoring parameters from {run['model_dir'] / 'model.ckpt-8'}" in run["log"]
    for report in run["reports"].values():
        assert report["metrics"]["global_step"] == 12
        for key, value in report["weights"].items():
            torch.testing.assert_close(torch.tensor(value), torch.tensor(reference["weights"][key]),
                                       rtol=1e-5, atol=1e-6)
        assert report["metrics"]["loss"] == pytest.approx(reference["metrics"]["loss"], rel=1e-5)
    checkpoints = sorted(p.name for p in run["model_dir"].glob("model.ckpt-*"))
    assert checkpoints == ["model.ckpt-0", "model.ckpt-12", "model.ckpt-4", "model.ckpt-8"]
