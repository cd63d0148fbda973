"""The main job (`make demo`): stream the CSV, train_and_evaluate a DNNRegressor, serve the export over HTTP."""

from __future__ import annotations

import os

import pytest


def test_pipeline_trains_exports_serves_and_answers_over_http(tmp_path, capsys, example):
    pipeline = example("pipeline")
    run = pipeline.main(str(tmp_path / "model"), steps=400)
    output = capsys.readouterr().out
    assert run["metrics"]["global_step"] == 400
    # Predicting the mean house value gives an rmse of ~116k USD; the trained DNN is far better.
    assert run["rmse_usd"] < 90_000
    assert run["served_price"] == pytest.approx(run["local_price"], rel=1e-5)  # HTTP answer == predict
    assert os.path.isdir(run["export_dir"]) and "HTTP POST /v1/models/houses:predict" in output
