"""The course's dataset_train_eval lab: train_and_evaluate, a LatestExporter, the reloaded export served."""

from __future__ import annotations

import os

import numpy as np


def test_pipeline_exports_and_the_reloaded_export_predicts_as_the_estimator(tmp_path, capsys, example):
    example = example("property_price_pipeline")
    results = example.main(str(tmp_path / "model"), steps=1000)  # the lab runs 5,000; 1,000 keeps the test short
    output = capsys.readouterr().out
    assert results["global_step"] == 1000
    export_dir = results["export_dir"]
    assert os.path.dirname(export_dir) == str(tmp_path / "model" / "export" / "houseprice")
    assert os.path.isfile(os.path.join(export_dir, "signature.json"))
    for backend in ("torch", "onnx"):
        np.testing.assert_allclose(results[f"served_{backend}"].reshape(-1), results["predicted"].reshape(-1),
                                   rtol=1e-5, atol=1e-4)
    assert "torch backend" in output and "onnx  backend" in output
    # The net learnt the data, not its mean price (1176; rmse 476): the least-squares floor of
    # these 36 rows is about 25, and 1500 sq ft of house is priced about 700-750 by the data.
    assert results["average_loss"] ** 0.5 < 60
    assert 650 < float(results["predicted"].reshape(-1)[0]) < 780


def test_read_dataset_strips_the_types_of_the_second_file(example):
    example = example("property_price_pipeline")
    est = example.est
    (features, prices), = list(example.read_dataset(str(example.DATA / "property_prices_*.csv"),
                                                    est.ModeKeys.EVAL, batch_size=100))
    assert len(prices) == 36 and sorted(set(features["type"].tolist())) == ["apt", "house"]
