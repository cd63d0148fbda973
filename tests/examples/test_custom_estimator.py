"""The main job (`make demo`): the course's custom-estimator lab runs end to end and learns."""

from __future__ import annotations

import os

def test_lab_trains_evaluates_predicts_and_reports_paths(tmp_path, capsys, example):
    example = example("custom_estimator")
    metrics = example.main(str(tmp_path / "model"), steps=1000)
    output = capsys.readouterr().out
    assert metrics["global_step"] == 1000
    # The TensorFlow lab reported rmse 0.136; an untrained model is around 0.8. Across seeds this
    # port lands between 0.12 and 0.26 (an LSTM(3) with plain SGD is seed-sensitive).
    assert metrics["rmse"] < 0.3
    assert output.count("predicted") == 3
    assert "model.ckpt-1000" in output and "tensorboard --logdir" in output
    assert os.path.isdir(tmp_path / "model" / "eval")
