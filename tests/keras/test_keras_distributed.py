"""Two torchrun processes train one Keras model through model_to_estimator: gradients are all-reduced."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first Keras import

import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("distributed_launch", HERE.parent / "distributed" / "distributed_launch.py")
launch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(launch)


def test_ranks_reading_different_rows_end_with_identical_weights(tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "--max-restarts=0", "--monitor-interval=0.2", str(HERE / "keras_ddp_program.py"),
               "--model-dir", str(tmp_path / "model"), "--out", str(tmp_path)]
    completed = launch.run(command, timeout=120, env=launch.environment(KERAS_BACKEND="torch"))
    assert completed.returncode == 0, completed.stdout[-4000:]
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert ranks[0]["global_step"] == ranks[1]["global_step"] == 4
    for ours, theirs in zip(ranks[0]["weights"], ranks[1]["weights"]):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    # And training moved them (they are not identical merely because nothing changed).
    keras.utils.set_random_seed(0)
    initial = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh")]).get_weights()[0]
    assert not np.allclose(np.asarray(ranks[0]["weights"][0]), initial)
