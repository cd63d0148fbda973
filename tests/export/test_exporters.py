"""Exporters: Latest/Best/Final semantics, garbage collection, BestExporter across restarts, errors."""

from __future__ import annotations

import functools
import json
import os

import numpy as np
import pytest

from torch_estimator.export.exporters import (
    BEST_RESULT_FILENAME,
    BestExporter,
    Exporter,
    FinalExporter,
    LatestExporter,
    collect_garbage,
    read_best_eval_result,
)


class FakeEstimator:
    """Has what exporters use: ``export_saved_model`` writing ``<base>/<10-digit stamp>/``."""

    def __init__(self, model_dir: str) -> None:
        self.model_dir = model_dir
        self.calls: list[dict] = []
        self._stamp = 1_700_000_000

    def export_saved_model(self, export_dir_base, serving_input_receiver_fn, assets_extra=None, checkpoint_path=None):
        self._stamp += 1
        path = os.path.join(export_dir_base, str(self._stamp))
        os.makedirs(path)
        self.calls.append({"base": export_dir_base, "fn": serving_input_receiver_fn, "assets_extra": assets_extra,
                           "checkpoint_path": checkpoint_path})
        return path


def serving_fn():
    return None


@pytest.fixture
def estimator(tmp_path):
    return FakeEstimator(str(tmp_path / "model"))


@pytest.fixture
def export_path(tmp_path):
    return str(tmp_path / "model" / "export" / "best")


def result(loss, step, **metrics):
    return {"loss": loss, "global_step": step, **metrics}


def test_the_three_exporters_satisfy_the_protocol():
    for exporter in (LatestExporter("a", serving_fn), BestExporter("b", serving_fn), FinalExporter("c", serving_fn)):
        assert isinstance(exporter, Exporter)


def test_latest_exporter_exports_every_time_and_keeps_the_newest(estimator, tmp_path):
    base = str(tmp_path / "export" / "latest")
    exporter = LatestExporter("latest", serving_fn, assets_extra={"vocab.txt": "/src/vocab.txt"}, exports_to_keep=2)
    paths = [exporter.export(estimator, base, f"ckpt-{step}", result(1.0, step), False) for step in (1, 2, 3)]
    assert sorted(os.listdir(base)) == [os.path.basename(p) for p in paths[1:]]
    assert estimator.calls[0] == {"base": base, "fn": serving_fn, "assets_extra": {"vocab.txt": "/src/vocab.txt"},
                                  "checkpoint_path": "ckpt-1"}


def test_garbage_collection_counts_only_ten_digit_directories(tmp_path):
    base = tmp_path / "export"
    for name in ("1700000001", "1700000002", "1700000003", "170000000", "temp-1700000004", "notes"):
        (base / name).mkdir(parents=True)
    (base / "1700000009").write_text("a file, not an export")
    removed = collect_garbage(str(base), 1)
    assert [os.path.basename(p) for p in removed] == ["1700000001", "1700000002"]
    assert sorted(os.listdir(base)) == sorted(["1700000003", "1700000009", "170000000", "notes", "temp-1700000004"])
    assert collect_garbage(str(base), None) == []
    assert collect_garbage(str(tmp_path / "missing"), 1) == []


def test_exports_to_keep_none_keeps_all(estimator, tmp_path):
    base = str(tmp_path / "export" / "all")
    exporter = LatestExporter("all", serving_fn, exports_to_keep=None)
    for step in range(7):
        exporter.export(estimator, base, "ckpt", result(1.0, step), False)
    assert len(os.listdir(base)) == 7


def test_final_exporter_exports_only_the_final_evaluation(estimator, tmp_path):
    base = str(tmp_path / "export" / "final")
    exporter = FinalExporter("final", serving_fn)
    assert exporter.export(estimator, base, "ckpt-1", result(1.0, 1), False) is None
    assert estimator.calls == []
    path = exporter.export(estimator, base, "ckpt-2", result(1.0, 2), True)
    assert os.path.dirname(path) == base and estimator.calls[0]["checkpoint_path"] == "ckpt-2"


def test_best_exporter_exports_first_then_only_improvements(estimator, export_path):
    exporter = BestExporter("best", serving_fn, exports_to_keep=2)
    first = exporter.export(estimator, export_path, "ckpt-1", result(0.5, 1), False)
    assert first is not None  # the first export ever is always made (TF PR #41 skipped it)
    assert exporter.export(estimator, export_path, "ckpt-2", result(0.6, 2), False) is None
    assert exporter.export(estimator, export_path, "ckpt-3", result(0.5, 3), False) is None  # not strictly better
    second = exporter.export(estimator, export_path, "ckpt-4", result(0.4, 4), False)
    third = exporter.export(estimator, export_path, "ckpt-5", result(0.3, 5), False)
    assert [call["checkpoint_path"] for call in estimator.calls] == ["ckpt-1", "ckpt-4", "ckpt-5"]
    assert sorted(e for e in os.listdir(export_path) if e.isdigit()) == [os.path.basename(p) for p in (second, third)]
    with open(os.path.join(export_path, BEST_RESULT_FILENAME)) as f:
        record = json.load(f)
    assert record == {"eval_result": result(0.3, 5), "export_dir": third, "checkpoint_path": "ckpt-5"}
    assert not [e for e in os.listdir(export_path) if ".tmp-" in e]  # the atomic write left nothing behind


def test_best_exporter_never_exports_a_worse_model_after_a_restart(estimator, export_path):
    BestExporter("best", serving_fn).export(estimator, export_path, "ckpt-10", result(0.2, 10), False)
    # A new process: a new exporter object. TensorFlow's exported unconditionally here (#47396).
    restarted = BestExporter("best", serving_fn)
    assert restarted.export(estimator, export_path, "ckpt-20", result(0.3, 20), False) is None
    assert len(estimator.calls) == 1
    assert restarted.export(estimator, export_path, "ckpt-30", result(0.1, 30), False) is not None
    assert read_best_eval_result(export_path) == result(0.1, 30)


def test_best_exporter_with_a_custom_compare_fn_and_numpy_values(estimator, export_path):
    def higher_accuracy(best_eval_result, current_eval_result):
        return current_eval_result["accuracy"] > best_eval_result["accuracy"]

    exporter = BestExporter("best", serving_fn, compare_fn=higher_accuracy)
    assert exporter.export(estimator, export_path, "c1", result(9.0, 1, accuracy=np.float32(0.5)), False)
    assert exporter.export(estimator, export_path, "c2", result(1.0, 2, accuracy=0.4), False) is None
    restarted = BestExporter("best", serving_fn, compare_fn=higher_accuracy)
    assert restarted.export(estimator, export_path, "c3", result(9.0, 3, accuracy=0.75), False)
    assert read_best_eval_result(export_path)["accuracy"] == 0.75


def test_best_exporter_remembers_per_export_path(estimator, tmp_path):
    exporter = BestExporter("best", serving_fn)
    one, two = str(tmp_path / "one" / "best"), str(tmp_path / "two" / "best")
    exporter.export(estimator, one, "c", result(0.1, 1), False)
    assert exporter.export(estimator, two, "c", result(0.5, 1), False) is not None  # another model_dir


def test_best_exporter_reports_an_unreadable_record(estimator, export_path):
    os.makedirs(export_path)
    with open(os.path.join(export_path, BEST_RESULT_FILENAME), "w") as f:
        f.write("{not json")
    with pytest.raises(ValueError) as info:
        BestExporter("best", serving_fn).export(estimator, export_path, "c", result(0.1, 1), False)
    text = str(info.value)
    assert text.startswith("BestExporter cannot read its stored best result. Expected a JSON object "
                           '{"eval_result": {...}, ...} in ')
    assert text.endswith("Restore the file, or delete it to let the next evaluation become the best.")


def test_default_compare_fn_needs_loss(estimator, export_path):
    exporter = BestExporter("best", serving_fn)
    exporter.export(estimator, export_path, "c", {"accuracy": 0.5, "global_step": 1}, False)  # first: no comparison
    with pytest.raises(ValueError) as info:
        exporter.export(estimator, export_path, "c", {"accuracy": 0.6, "global_step": 2}, False)
    assert str(info.value) == (
        "BestExporter's default compare_fn needs 'loss' in best_eval_result. Expected an evaluation result with a "
        "'loss' key. Received: best_eval_result={'accuracy': 0.5, 'global_step': 1}. Pass compare_fn=... comparing "
        "a metric your evaluation reports.")


@pytest.mark.parametrize("compare_fn, arguments, missing, unexpected", [
    (lambda best, current: True, ["best", "current"], ["best_eval_result", "current_eval_result"],
     ["best", "current"]),
    (lambda best_eval_result: True, ["best_eval_result"], ["current_eval_result"], []),
    (lambda best_eval_result, current_eval_result, margin: True,
     ["best_eval_result", "current_eval_result", "margin"], [], ["margin"]),
])
def test_compare_fn_argument_names_are_enforced(compare_fn, arguments, missing, unexpected):
    with pytest.raises(ValueError) as info:
        BestExporter("best", serving_fn, compare_fn=compare_fn)
    assert str(info.value) == (
        "compare_fn must take the arguments best_eval_result and current_eval_result (it is called with them by "
        "keyword, as in TensorFlow). Expected def compare_fn(best_eval_result, current_eval_result) -> bool. "
        f"Received: arguments={arguments!r}, missing={missing!r}, unexpected={unexpected!r}. Rename its arguments "
        "to best_eval_result and current_eval_result.")


def test_compare_fn_forms_that_are_accepted():
    def with_margin(best_eval_result, current_eval_result, margin=0.1):
        return current_eval_result["loss"] < best_eval_result["loss"] - margin

    BestExporter("best", serving_fn, compare_fn=with_margin)
    BestExporter("best", serving_fn, compare_fn=functools.partial(with_margin, margin=0.2))
    BestExporter("best", serving_fn, compare_fn=lambda best_eval_result, current_eval_result, **kw: True)
    with pytest.raises(TypeError) as info:
        BestExporter("best", serving_fn, compare_fn="loss")
    assert str(info.value) == (
        "compare_fn must be callable. Expected a function compare_fn(best_eval_result, current_eval_result) -> bool. "
        "Received: compare_fn='loss'. Pass a function, or None for the default (smaller loss).")


@pytest.mark.parametrize("cls", [LatestExporter, BestExporter, FinalExporter])
def test_constructor_errors(cls):
    with pytest.raises(ValueError) as info:
        cls("", serving_fn)
    assert str(info.value) == "An exporter name must be a non-empty string. Received: name=''."
    with pytest.raises(ValueError, match=r"cannot contain path separators or be '.' or '..'. Received: name='a/b'"):
        cls("a/b", serving_fn)
    with pytest.raises(TypeError) as info:
        cls("x", serving_fn())
    assert str(info.value) == (
        "serving_input_receiver_fn must be callable. Expected a function returning an est.export.ServingInputReceiver. "
        "Received: serving_input_receiver_fn=None. Pass e.g. est.export.build_raw_serving_input_receiver_fn({...}).")


@pytest.mark.parametrize("exports_to_keep", [0, -1, True, 2.5])
@pytest.mark.parametrize("cls", [LatestExporter, BestExporter])
def test_exports_to_keep_must_be_positive(cls, exports_to_keep):
    with pytest.raises(ValueError) as info:
        cls("x", serving_fn, exports_to_keep=exports_to_keep)
    assert str(info.value) == (
        "exports_to_keep, if provided, must be a positive number. Expected a positive int, or None to keep every "
        f"export. Received: exports_to_keep={exports_to_keep!r}. Pass exports_to_keep=5 (the default) or None.")


def test_tensorflow_positional_as_text_is_rejected_not_misread():
    with pytest.raises(ValueError, match="Received: exports_to_keep=False"):
        LatestExporter("x", serving_fn, None, False)  # TF's order: (name, fn, assets_extra, as_text, ...)
    assert LatestExporter("x", serving_fn, as_text=True).name == "x"


def test_train_and_evaluate_with_the_real_export(tmp_path):
    """Integration: the export package's writer and loader behind all three exporters.

    Runs once ``torch_estimator.export`` and ``Estimator.export_saved_model`` exist; the import is
    plain on purpose, so this fails rather than skips until then. Exports made in the middle of
    training must not change it (same losses as a plain ``train``, dropout included).
    """
    import torch

    import torch_estimator as est
    from torch_estimator.export import TensorSpec, build_raw_serving_input_receiver_fn, load
    from torch_estimator.training import EvalSpec, TrainSpec, train_and_evaluate

    def model_fn(features, labels, mode):
        net = est.get_module("net", lambda: torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Dropout(0.2),
                                                                  torch.nn.Linear(8, 1)))
        predictions = net(features["x"])
        if mode == est.ModeKeys.PREDICT:
            return est.EstimatorSpec(mode, predictions={"y": predictions})
        loss = torch.nn.functional.mse_loss(predictions, labels)
        return est.EstimatorSpec(mode, predictions={"y": predictions}, loss=loss,
                                 train_op=est.train.minimize(loss, "SGD", learning_rate=0.05))

    class Losses(est.SessionRunHook):
        def __init__(self):
            self.values = []

        def before_run(self, run_context):
            return est.SessionRunArgs("loss")

        def after_run(self, run_context, run_values):
            self.values.append(run_values.results)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)).astype(np.float32)
    train_input = est.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=None, shuffle=True)
    eval_input = est.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=1, shuffle=False)
    serving = build_raw_serving_input_receiver_fn({"x": TensorSpec((None, 3), torch.float32)})
    config = est.RunConfig(save_checkpoints_steps=10, tf_random_seed=0, progress_bar=False)
    plain = Losses()
    est.Estimator(model_fn, str(tmp_path / "plain"), config).train(train_input, hooks=[plain], max_steps=30)

    estimator = est.Estimator(model_fn, str(tmp_path / "model"), config)
    exporters = [LatestExporter("latest", serving, exports_to_keep=2), BestExporter("best", serving),
                 FinalExporter("final", serving)]
    losses = Losses()
    _, exports = train_and_evaluate(estimator, TrainSpec(train_input, max_steps=30, hooks=[losses]),
                                    EvalSpec(eval_input, steps=None, throttle_secs=0, exporters=exporters))
    assert losses.values == plain.values
    export_dir = tmp_path / "model" / "export"
    assert len([e for e in os.listdir(export_dir / "latest") if e.isdigit()]) == 2
    assert len([e for e in os.listdir(export_dir / "final") if e.isdigit()]) == 1
    assert read_best_eval_result(str(export_dir / "best")) is not None
    expected = np.stack([p["y"] for p in estimator.predict(est.inputs.numpy_input_fn({"x": x[:5]}, shuffle=False))])
    for path in (exports[0], exports[2]):  # the latest and the final export: the weights of step 30
        predictor = load(path)
        assert "serving_default" in predictor.signatures
        np.testing.assert_allclose(np.asarray(predictor({"x": x[:5]})["y"]), expected, rtol=1e-5, atol=1e-6)
