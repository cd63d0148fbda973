"""The course's California-housing lab: canned Linear/DNN regressors on feature columns, rmse in dollars."""

from __future__ import annotations

import pytest


def test_one_epoch_beats_the_course_and_more_epochs_improve(tmp_path, capsys, example):
    example = example("california_housing")
    results = example.main(str(tmp_path / "model"), epochs=(1, 5))
    output = capsys.readouterr().out
    linear, dnn, ols = results["linear"], results["dnn"], results["ols_rmse"]
    assert linear[1]["global_step"] == dnn[1]["global_step"] == 137  # one epoch of 13,605 rows, batches of 100
    # The course, after one epoch at batch 100: 96.6k (linear) and 82.0k (DNN).
    assert linear[1]["rmse"] <= 96.6e3
    assert dnn[1]["rmse"] <= 82.0e3
    assert ols == pytest.approx(72.9e3, rel=0.01)
    # More epochs: the linear model nears least squares, the DNN passes it.
    assert linear[5]["rmse"] < linear[1]["rmse"] and linear[5]["rmse"] < 1.05 * ols
    assert dnn[5]["rmse"] < dnn[1]["rmse"] and dnn[5]["rmse"] < ols
    # add_metrics' rmse in dollars agrees with the head's loss on the 1e5 scale.
    assert dnn[5]["rmse"] == pytest.approx(1e5 * dnn[5]["average_loss"] ** 0.5, rel=1e-3)
    assert output.count("(the course:") == 2


def test_split_is_deterministic_and_80_20(example):
    example = example("california_housing")
    train, evaluation = example.load_data()
    again, _ = example.load_data()
    assert len(train) + len(evaluation) == 17000 and 0.79 < len(train) / 17000 < 0.81
    assert train.equals(again)
    assert {"num_rooms", "num_bedrooms", "persons_per_house"} <= set(train.columns)
