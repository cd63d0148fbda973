"""TensorBoard summaries: training loss and rate, est.summary values from model_fn, evaluation results.

Event files are read back with TensorBoard's own EventAccumulator.
"""

from __future__ import annotations

import os

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import torch_estimator as est
from conftest import linear_model_fn


def events(directory) -> EventAccumulator:
    accumulator = EventAccumulator(str(directory), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def scalars(accumulator: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    if tag not in accumulator.Tags()["scalars"]:
        return []
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def steps(accumulator: EventAccumulator, tag: str) -> list[int]:
    return [step for step, _ in scalars(accumulator, tag)]


def summarizing_model_fn(features, labels, mode, params):
    """linear_model_fn that also records a scalar, a histogram and a text with est.summary."""
    spec = linear_model_fn(features, labels, mode, params)
    step = est.train.get_global_step()  # the step count before this step's update
    est.summary.scalar("seen_step", torch.tensor(float(step)))
    est.summary.histogram("predictions", spec.predictions["y"])
    est.summary.text("note", f"called at {step}")
    if params.get("own_loss"):
        est.summary.scalar("loss", 42.0)
    return spec


# -- training ---------------------------------------------------------------------------------
def test_training_writes_loss_every_save_summary_steps_and_steps_per_second(make_estimator, train_input,
                                                                             loss_recorder):
    estimator = make_estimator(save_summary_steps=2, log_step_count_steps=2)
    losses = loss_recorder()
    estimator.train(train_input, hooks=[losses], steps=6)
    written = events(estimator.model_dir)
    # TF's schedule: the first step, then every save_summary_steps (loss of step s written at s).
    assert scalars(written, "loss") == [(step, pytest.approx(losses.by_step[step], rel=1e-6)) for step in (1, 3, 5)]
    assert steps(written, "global_step/sec") == [3, 5]  # step 1 starts the clock
    assert all(rate > 0 for _, rate in scalars(written, "global_step/sec"))

    estimator.train(train_input, steps=4)  # continues from step 6 in the same run
    assert steps(events(estimator.model_dir), "loss") == [1, 3, 5, 7, 9]


def test_est_summary_values_are_written_on_summary_steps_only(make_estimator, train_input):
    estimator = make_estimator(model_fn=summarizing_model_fn, params={}, save_summary_steps=2)
    estimator.train(train_input, steps=6)
    written = events(estimator.model_dir)
    # The value recorded by the model_fn call of step s is written at s: seen_step is s - 1.
    assert scalars(written, "seen_step") == [(1, 0.0), (3, 2.0), (5, 4.0)]
    assert [(event.step, event.histogram_value.num) for event in written.Histograms("predictions")] == [
        (1, 16), (3, 16), (5, 16)]
    notes = [(event.step, event.tensor_proto.string_val[0]) for event in written.Tensors("note/text_summary")]
    assert notes == [(1, b"called at 0"), (3, b"called at 2"), (5, b"called at 4")]
    assert steps(written, "loss") == [1, 3, 5]


def test_a_loss_scalar_from_model_fn_replaces_the_default_one(make_estimator, train_input):
    estimator = make_estimator(model_fn=summarizing_model_fn, params={"own_loss": True}, save_summary_steps=2)
    estimator.train(train_input, steps=4)
    assert scalars(events(estimator.model_dir), "loss") == [(1, 42.0), (3, 42.0)]


def test_save_summary_steps_zero_writes_no_loss(make_estimator, train_input):
    estimator = make_estimator(model_fn=summarizing_model_fn, params={}, save_summary_steps=0,
                               log_step_count_steps=2)
    estimator.train(train_input, steps=5)
    tags = events(estimator.model_dir).Tags()
    assert tags["scalars"] == ["global_step/sec"]
    assert tags["histograms"] == [] and tags["tensors"] == []


# -- evaluation -------------------------------------------------------------------------------
def test_evaluate_writes_results_to_eval_dirs_at_the_global_step(make_estimator, train_input, eval_input):
    estimator = make_estimator(model_fn=summarizing_model_fn, params={})
    estimator.train(train_input, steps=3)
    results = estimator.evaluate(eval_input)
    named = estimator.evaluate(eval_input, steps=2, name="holdout")
    for directory, expected in ((estimator.eval_dir(), results), (estimator.eval_dir("holdout"), named)):
        written = events(directory)
        assert sorted(written.Tags()["scalars"]) == ["average_loss", "loss", "mae", "rmse"]  # no est.summary
        for key in ("loss", "average_loss", "rmse", "mae"):
            assert scalars(written, key) == [(3, pytest.approx(expected[key], rel=1e-6))]
        assert written.Tensors("checkpoint_path/text_summary")[0].tensor_proto.string_val[0].decode() == \
            os.path.join(estimator.model_dir, "model.ckpt-3")
    assert named["loss"] != results["loss"]  # two of four batches: the runs are really separate

    estimator.train(train_input, steps=2)
    estimator.evaluate(eval_input)
    assert steps(events(estimator.eval_dir()), "rmse") == [3, 5]


# -- est.summary and SummarySink --------------------------------------------------------------
@pytest.mark.parametrize("record", [est.summary.scalar, est.summary.histogram, est.summary.text])
def test_est_summary_outside_model_fn_is_an_error(record):
    name = record.__name__
    with pytest.raises(RuntimeError, match=rf"est\.summary\.{name} can only be called inside a model_fn run by "
                                           r"an Estimator\..*Move the call into model_fn"):
        record("x", 1.0 if name != "text" else "text")


def test_summary_sink_off_the_chief_writes_nothing(tmp_path):
    sink = est.summary.SummarySink(str(tmp_path / "worker"), is_chief=False)
    sink.scalar("loss", 1.0, 1)
    sink.histogram("values", torch.ones(3), 1)
    sink.text("note", "hello", 1)
    sink.write([("scalar", "loss", torch.tensor(2.0))], 2)
    sink.flush()
    sink.close()
    assert not (tmp_path / "worker").exists()


def test_summary_sink_write_dispatches_records(tmp_path):
    sink = est.summary.SummarySink(str(tmp_path / "sink"))
    sink.write([("scalar", "a", torch.tensor(2.5)), ("histogram", "h", torch.arange(4.0)), ("text", "t", "hi")], 7)
    sink.close()
    written = events(tmp_path / "sink")
    assert scalars(written, "a") == [(7, 2.5)]
    assert [(event.step, event.histogram_value.num, event.histogram_value.max)
            for event in written.Histograms("h")] == [(7, 4, 3.0)]
    assert written.Tensors("t/text_summary")[0].tensor_proto.string_val == [b"hi"]


def test_event_file_is_written_by_the_caller_and_readable_after_flush(tmp_path):
    """No background writer: after flush() the events are on disk, in TensorBoard's file naming."""
    sink = est.summary.SummarySink(str(tmp_path / "sync"))
    for step in range(1, 4):
        sink.scalar("loss", step / 2, step)
    sink.flush()
    files = os.listdir(tmp_path / "sync")
    assert len(files) == 1 and files[0].startswith("events.out.tfevents.")
    assert scalars(events(tmp_path / "sync"), "loss") == [(1, 0.5), (2, 1.0), (3, 1.5)]
    sink.scalar("loss", 9.0, 4)
    sink.close()
    assert scalars(events(tmp_path / "sync"), "loss")[-1] == (4, 9.0)


def test_every_evaluation_is_logged_for_restart_safe_readers(make_estimator, train_input, eval_input):
    from torch_estimator.summary.eval_log import EVAL_LOG, read_eval_metrics, read_eval_results

    estimator = make_estimator()
    estimator.train(train_input, steps=2)
    first = estimator.evaluate(eval_input)
    estimator.train(train_input, steps=2)
    second = estimator.evaluate(eval_input)
    with open(os.path.join(estimator.eval_dir(), EVAL_LOG), "a") as f:
        f.write('{"results": {"loss"')  # a line torn by a crash is ignored
    assert list(read_eval_metrics(estimator.eval_dir()).values()) == [first, second]
    records = read_eval_results(estimator.eval_dir())
    assert records[-1]["checkpoint_path"].endswith("model.ckpt-4")
