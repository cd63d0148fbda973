"""A training run killed mid-epoch resumes at the next unread batch (counted across a real kill)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np

import torch_estimator as est

ROWS, BATCH = 200, 10  # 20 batches per epoch

CHILD = textwrap.dedent("""
    import os, signal, sys
    import torch
    import torch_estimator as est

    csv, model_dir, seen_log = sys.argv[1:4]

    def model_fn(features, labels, mode):
        with open(seen_log, "a") as log:  # which rows this step trained on
            log.write(" ".join(str(int(i)) for i in features["row"].tolist()) + "\\n")
        net = est.get_module("net", lambda: torch.nn.Linear(1, 1))
        loss = torch.nn.functional.mse_loss(net(features["x"].unsqueeze(1)), labels.unsqueeze(1))
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD", learning_rate=0.01))

    class KillAtStep(est.SessionRunHook):
        def before_run(self, run_context):
            return est.SessionRunArgs("global_step")

        def after_run(self, run_context, run_values):
            if run_values.results == 8 and not os.path.exists(seen_log + ".killed"):
                open(seen_log + ".killed", "w").close()  # only the first run dies
                os.kill(os.getpid(), signal.SIGKILL)  # no clean shutdown, no final checkpoint

    def input_fn():
        return est.data.make_csv_dataset(csv, batch_size=10, label_name="y", num_epochs=1, shuffle=True,
                                         shuffle_seed=3, shuffle_buffer_size=50)

    estimator = est.Estimator(model_fn, model_dir=model_dir,
                              config=est.RunConfig(save_checkpoints_steps=6, progress_bar=False))
    estimator.train(input_fn, hooks=[KillAtStep()])
""")


def test_rows_seen_across_a_kill(tmp_path):
    csv = tmp_path / "data.csv"
    rows = np.arange(ROWS)
    csv.write_text("row,x,y\n" + "".join(f"{i},{i / ROWS:.4f},{2 * i / ROWS:.4f}\n" for i in rows))
    script, seen_log, model_dir = tmp_path / "child.py", tmp_path / "seen.txt", tmp_path / "model"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.run([sys.executable, str(script), str(csv), str(model_dir), str(seen_log)], env=env,
                           timeout=120, capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    before_kill = [[int(v) for v in line.split()] for line in seen_log.read_text().splitlines()]
    assert len(before_kill) == 8  # steps 1..8 ran; the last checkpoint is model.ckpt-6

    seen_log.write_text("")
    subprocess.run([sys.executable, str(script), str(csv), str(model_dir), str(seen_log)], env=env, timeout=120,
                   check=True, capture_output=True)  # the same program, restarted (it kills itself only once)
    after_restart = [[int(v) for v in line.split()] for line in seen_log.read_text().splitlines()]

    checkpointed = [row for batch in before_kill[:6] for row in batch]
    resumed = [row for batch in after_restart for row in batch]
    # The restart trains exactly the batches after model.ckpt-6: batches 7 and 8 again (their
    # updates died with the process), then the rest of the epoch; no row twice, none skipped.
    assert after_restart[:2] == before_kill[6:8]
    assert sorted(checkpointed + resumed) == list(rows)
    assert est.Estimator(lambda features: None, model_dir=str(model_dir)).get_variable_value("global_step") == 20
