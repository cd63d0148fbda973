"""The course's taxi-fare lab with canned estimators: linear, DNN and wide & deep from streamed CSV."""

from __future__ import annotations

import pytest

MEAN_BASELINE_RMSE = 10.4456  # always predicting the training mean 11.0913 on the valid file


def test_every_model_beats_the_mean_and_the_networks_beat_the_line(tmp_path, capsys, example):
    example = example("taxi_fare_canned")
    results = example.main(str(tmp_path / "model"), steps=1000)
    output = capsys.readouterr().out
    assert results["mean_baseline_rmse"] == pytest.approx(MEAN_BASELINE_RMSE, abs=1e-3)
    linear, dnn, wide_deep = (results[kind]["rmse"] for kind in ("linear", "dnn", "wide_deep"))
    assert all(results[kind]["global_step"] == 1000 for kind in example.MODELS)
    # about 9.4 (least squares: 9.08), 4.8 and 5.9
    assert linear < MEAN_BASELINE_RMSE - 0.5
    assert dnn < 0.75 * linear and wide_deep < 0.75 * linear
    assert output.count("valid rmse") == 4


def test_statistics_are_those_of_the_whole_training_file(example):
    example = example("taxi_fare_canned")
    moments, label_mean = example.statistics(str(example.DATA / "taxi-train.csv"))
    assert label_mean == pytest.approx(11.0913, abs=1e-3)
    assert [moments[name][0] for name in example.NUMERIC] == pytest.approx(
        [-73.9753, 40.7514, -73.9749, 40.7515, 1.7337], abs=1e-3)
