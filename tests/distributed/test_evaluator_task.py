"""train_and_evaluate in a TF_CONFIG cluster: chief and worker train, the evaluator task evaluates
each new checkpoint and exports the final one, a ps task exits; leases keep read checkpoints."""

from __future__ import annotations

import json
import logging
import os

import pytest
import torch

import torch_estimator as est
from distributed_launch import free_port, start_task, summary, wait_all
from distributed_program import model_fn, sliced_input_fn
from torch_estimator.checkpoint import CheckpointManager
from torch_estimator.checkpoint.lease import LEASE_PREFIX, checkpoint_lease
from torch_estimator.distributed.cluster import ClusterInfo
from torch_estimator.summary.eval_log import read_eval_metrics
from torch_estimator.training import EvalSpec, TrainSpec, train_and_evaluate


@pytest.mark.slow  # ~15 s: three processes; the evaluator loop itself is tested in-process below
def test_chief_worker_and_evaluator_tasks_train_evaluate_export_and_exit(tmp_path):
    port = free_port()
    cluster = {"chief": [f"127.0.0.1:{port}"], "worker": ["127.0.0.1:1"], "evaluator": ["127.0.0.1:2"]}
    args = ["tae", "--model-dir", str(tmp_path / "model"), "--out", str(tmp_path / "out"), "--max-steps", "8",
            "--save-steps", "4"]
    tasks = [start_task(args, json.dumps({"cluster": cluster, "task": {"type": kind, "index": 0}}))
             for kind in ("evaluator", "chief", "worker")]
    outputs = wait_all(tasks, timeout=150)
    assert [task.returncode for task in tasks] == [0, 0, 0], "\n----\n".join(summary(o, 3000) for o in outputs)
    evaluator = json.loads((tmp_path / "out" / "evaluator0.json").read_text())
    assert evaluator["metrics"]["global_step"] == 8
    export = evaluator["exports"][0]
    assert export.startswith(str(tmp_path / "model" / "export" / "final")) and os.path.isdir(export)
    assert set(read_eval_metrics(str(tmp_path / "model" / "eval"))) <= {0, 4, 8}  # only checkpoints; 8 always
    assert 8 in read_eval_metrics(str(tmp_path / "model" / "eval"))
    for kind in ("chief0", "worker0"):
        assert json.loads((tmp_path / "out" / f"{kind}.json").read_text()) == {"metrics": None, "exports": []}


def _estimator(model_dir, **cluster) -> est.Estimator:
    config = est.RunConfig(save_checkpoints_steps=2, progress_bar=False, cluster=ClusterInfo(**cluster))
    return est.Estimator(model_fn, str(model_dir), config, params={"hidden": 4})


def test_a_ps_task_says_it_is_not_needed_and_returns(tmp_path, caplog):
    estimator = _estimator(tmp_path, task_type="ps", is_chief=False)
    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        result = train_and_evaluate(estimator, TrainSpec(sliced_input_fn(16, 4), max_steps=2),
                                    EvalSpec(sliced_input_fn(16, 4)))
    assert result == (None, [])
    assert "Parameter servers are not needed" in caplog.text
    assert not [name for name in os.listdir(tmp_path) if name.startswith("model.ckpt")]


def test_the_evaluator_task_evaluates_the_final_checkpoint_and_writes_its_results(tmp_path):
    _estimator(tmp_path).train(sliced_input_fn(64, 8), max_steps=6)
    evaluator = _estimator(tmp_path, task_type="evaluator", is_chief=False)
    metrics, exports = train_and_evaluate(evaluator, TrainSpec(sliced_input_fn(64, 8), max_steps=6),
                                          EvalSpec(sliced_input_fn(64, 8), steps=None, start_delay_secs=0))
    assert metrics["global_step"] == 6 and exports == []
    assert list(read_eval_metrics(evaluator.eval_dir())) == [6]  # the evaluator writes its own results
    assert not [name for name in os.listdir(tmp_path) if name.startswith(LEASE_PREFIX)]  # released


def test_retention_keeps_a_leased_checkpoint_until_the_lease_is_released(tmp_path):
    manager = CheckpointManager(str(tmp_path), keep_checkpoint_max=1)
    state = {"global_step": 0, "w": torch.ones(2)}
    first = manager.save(state, 1)
    with checkpoint_lease(first):
        manager.save(state, 2)
        assert os.path.isdir(first) and manager.all_checkpoints() == [str(tmp_path / "model.ckpt-2")]
    manager.save(state, 3)
    assert not os.path.exists(first) and not os.path.exists(tmp_path / "model.ckpt-2")
