"""Training progress: log lines or a tqdm bar, the final loss, and est.logging's verbosity."""

from __future__ import annotations

import logging
import re

import pytest

import torch_estimator as est

LINE = re.compile(r"step = (\d+), loss = ([-+.e\d]+|nan|inf) \(\d+\.\d steps/sec\)")


@pytest.fixture
def package_level():
    """Restores the torch_estimator logger's level after a test changes it."""
    logger = logging.getLogger("torch_estimator")
    previous = logger.level
    yield
    logger.setLevel(previous)


def progress_lines(caplog) -> list[re.Match]:
    return [match for record in caplog.records if (match := LINE.fullmatch(record.getMessage()))]


def test_log_lines_every_log_step_count_steps_and_final_loss(make_estimator, train_input, caplog):
    caplog.set_level("INFO", logger="torch_estimator")
    final = est.FinalOpsHook({"loss": "loss", "step": "global_step"})
    make_estimator(log_step_count_steps=2).train(train_input, hooks=[final], steps=5)
    lines = progress_lines(caplog)
    assert [int(line.group(1)) for line in lines] == [2, 4]
    assert all(record.levelname == "INFO" for record in caplog.records if LINE.fullmatch(record.getMessage()))
    assert final.final_ops_values["step"] == 5
    assert f"Loss for final step: {final.final_ops_values['loss']:.6g}." in caplog.messages


def test_final_loss_is_the_last_steps_even_when_no_hook_fetches_it_every_step(make_estimator, train_input,
                                                                               caplog):
    """The progress hook only runs on its logging steps; the last loss comes from the loop."""
    caplog.set_level("INFO", logger="torch_estimator")
    estimator = make_estimator(log_step_count_steps=4)
    estimator.train(train_input, steps=7)
    assert [int(line.group(1)) for line in progress_lines(caplog)] == [4]
    last_loss = float(estimator._state.last_loss)
    assert f"Loss for final step: {last_loss:.6g}." in caplog.messages


def test_log_lines_continue_from_the_restored_step(make_estimator, train_input, caplog):
    caplog.set_level("INFO", logger="torch_estimator")
    estimator = make_estimator(log_step_count_steps=3)
    estimator.train(train_input, steps=4)
    caplog.clear()
    estimator.train(train_input, steps=4)
    assert [int(line.group(1)) for line in progress_lines(caplog)] == [6]


def test_progress_bar_goes_to_stderr_instead_of_log_lines(make_estimator, train_input, caplog, capsys):
    caplog.set_level("INFO", logger="torch_estimator")
    make_estimator(progress_bar=True, log_step_count_steps=2).train(train_input, steps=5)
    err = capsys.readouterr().err
    assert re.search(r"train: 100%.*\| 5/5 ", err), err
    assert progress_lines(caplog) == []
    assert any(message.startswith("Loss for final step: ") for message in caplog.messages)


def test_set_verbosity_warn_silences_info_lines_and_the_bar(make_estimator, train_input, caplog, capsys,
                                                             package_level):
    caplog.set_level("INFO", logger="torch_estimator")
    est.logging.set_verbosity(est.logging.WARN)
    assert est.logging.get_verbosity() == logging.WARNING
    estimator = make_estimator(progress_bar=True, log_step_count_steps=1)
    estimator.train(train_input, steps=3)
    assert [record for record in caplog.records if record.levelno < logging.WARNING] == []
    assert "train:" not in capsys.readouterr().err
    estimator.train(lambda: iter([]), steps=1)  # warnings still show
    assert [record.getMessage() for record in caplog.records] == [
        "Training with estimator made no steps. Perhaps input is empty or misspecified."]
