"""The course's house-price demo: CSV files by glob through est.data, a linear model that fits them."""

from __future__ import annotations


import torch_estimator as est

def test_demo_reads_both_files_and_learns_the_price_rule(tmp_path, capsys, example):
    example = example("property_prices")
    metrics = example.main(str(tmp_path / "model"), steps=300)
    output = capsys.readouterr().out
    assert metrics["global_step"] == 300
    # The least-squares line per type has rmse 24.7 on these 36 rows (prices rise by 25 per 100
    # sq ft between whole thousands, not by 50 or 60); an untrained model is off by ~1000.
    assert metrics["rmse"] < 26
    estimator = est.Estimator(example.price_model, model_dir=str(tmp_path / "model"))
    house, apt = example.predict_prices(estimator, [(1500, "house"), (1500, "apt")])
    # The data's rule gives 750 and 1000; the best straight lines give 726.7 and 967.3.
    assert abs(house - 750) / 750 < 0.04 and abs(house - 726.7) < 3
    assert abs(apt - 1000) / 1000 < 0.04 and abs(apt - 967.3) < 3
    assert output.count("predicted") == 4
    assert "model.ckpt-300" in output


def test_read_dataset_decodes_both_files_despite_the_spaces_in_the_second(example):
    example = example("property_prices")
    dataset = example.read_dataset(str(example.DATA / "property_prices_*.csv"), est.ModeKeys.EVAL, batch_size=100)
    (features, prices), = list(dataset)
    assert len(prices) == 36  # 18 rows per file; the second has no final newline
    assert sorted(set(features["type"].tolist())) == ["apt", "house"]
    assert {1000.0, 1001.0} <= set(features["sq_footage"].tolist())  # ' 1001' is read as a number
    assert 1951.0 in prices.tolist()  # the second file's last line, '3201, apt,   1951'
