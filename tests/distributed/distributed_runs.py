"""Runs of the test program shared by the DDP and FSDP test modules: each costs seconds (torchrun).

Not a conftest.py: other test directories import their helpers as ``conftest``."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from distributed_launch import PROGRAM, run, summary, torchrun
from distributed_program import write_csv

ARGS = ["--rows", "64", "--batch", "8", "--save-steps", "4"]


def launch(how: str, model_dir: Path, out: Path, max_steps: int) -> dict:
    """The ``train`` scenario (train, evaluate, export, predict) to ``max_steps``; each rank's report.

    ``how``: ``'one'`` (one process), ``'ddp'`` or ``'fsdp'`` (two torchrun processes).
    """
    out.mkdir(parents=True)
    for count in (53, 1):
        write_csv(str(out / f"eval{count}.csv"), count)
    args = ["train", "--model-dir", str(model_dir), "--out", str(out), *ARGS, "--max-steps", str(max_steps)]
    if how == "one":
        done = run([sys.executable, PROGRAM, *args], timeout=90)
    else:
        done = torchrun([*args, "--distribute", how], nproc=2, timeout=120)
    assert done.returncode == 0, summary(done.stdout)
    reports = {int(path.stem[4:]): json.loads(path.read_text()) for path in sorted(out.glob("rank*.json"))}
    return {"reports": reports, "model_dir": model_dir, "log": done.stdout}


_PHASE_ONE: dict = {}


def phase_one_runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same program to global step 8 (global batch 8): alone, under DDP and under FSDP.

    Made once per test session, for every module that asks (the modules' ``phase_one`` fixtures).
    """
    if not _PHASE_ONE:
        root = tmp_path_factory.mktemp("phase_one")
        _PHASE_ONE.update({how: launch(how, root / f"model_{how}", root / f"out_{how}", 8)
                           for how in ("one", "ddp", "fsdp")})
    return _PHASE_ONE


def copy_model_dir(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("export", "eval*", "events.*"))
    return target
