"""Acceptance 1: the lecture's Keras demo (Sequential, 'rawdata_input', mae/mape) as an Estimator."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the example imports Keras

import pytest  # noqa: E402


def test_lecture_demo_short_run(tmp_path, capsys, example):
    result = example("keras_sine").main(str(tmp_path / "model"), steps=150)
    output = capsys.readouterr().out
    assert result["global_step"] == 150
    assert {"mean_absolute_error", "mean_absolute_percentage_error"} <= set(result)
    assert result["loss"] < 0.05  # 0.3 after 40 steps, 0.013 after 150 (seed 42)
    assert result["keras_loss"] == pytest.approx(result["loss"], rel=1e-5)  # weights went back into Keras
    assert output.count("predicted") == 3


@pytest.mark.slow
def test_lecture_demo_reaches_the_lab_quality(tmp_path, example):
    result = example("keras_sine").main(str(tmp_path / "model"), steps=1000)
    # The TensorFlow lab reported loss 6.4e-4 and mean_absolute_error 0.018; measured here 2.7e-4 and 0.013.
    assert result["loss"] < 1.5e-3
    assert result["mean_absolute_error"] < 0.03
