"""est.logging: the package logger is visible by default, unless the application configured logging."""

from __future__ import annotations

import contextlib
import logging

import torch_estimator as est
from torch_estimator import verbosity


@contextlib.contextmanager
def bare_logging(monkeypatch):
    """No handler on the root or package logger and package level NOTSET, restored on exit.

    Entered inside the test body: pytest adds its capture handlers to the root logger when the
    test call starts, after fixtures have run.
    """
    package = logging.getLogger("torch_estimator")
    previous_level = package.level
    with monkeypatch.context() as patch:
        patch.setattr(logging.getLogger(), "handlers", [])
        patch.setattr(package, "handlers", [])
        patch.setattr(package, "propagate", package.propagate)
        package.setLevel(logging.NOTSET)  # setLevel, not setattr: it clears the level caches
        try:
            yield package
        finally:
            package.setLevel(previous_level)


def test_ensure_visible_adds_exactly_one_info_stderr_handler(monkeypatch, capsys):
    with bare_logging(monkeypatch) as package:
        verbosity.ensure_visible()
        verbosity.ensure_visible()  # idempotent
        assert len(package.handlers) == 1
        assert package.level == logging.INFO and not package.propagate
        package.info("hello %d", 3)
        package.debug("hidden")
    assert capsys.readouterr().err == "INFO:torch_estimator:hello 3\n"


def test_ensure_visible_keeps_a_level_the_user_chose(monkeypatch):
    with bare_logging(monkeypatch) as package:
        package.setLevel(logging.ERROR)
        verbosity.ensure_visible()
        assert len(package.handlers) == 1 and package.level == logging.ERROR


def test_ensure_visible_adds_nothing_when_the_application_configured_logging(monkeypatch):
    with bare_logging(monkeypatch) as package:
        logging.getLogger().handlers.append(logging.NullHandler())
        verbosity.ensure_visible()
        assert package.handlers == [] and package.level == logging.NOTSET
    with bare_logging(monkeypatch) as package:
        package.handlers.append(logging.NullHandler())  # or the user configured the package logger
        verbosity.ensure_visible()
        assert len(package.handlers) == 1 and package.level == logging.NOTSET


def test_set_and_get_verbosity(monkeypatch, capsys):
    with bare_logging(monkeypatch) as package:
        est.logging.set_verbosity(est.logging.WARN)
        assert est.logging.get_verbosity() == est.logging.WARNING == logging.WARNING
        assert len(package.handlers) == 1  # set_verbosity also makes the output visible
        package.info("quiet")
        package.warning("loud")
        assert capsys.readouterr().err == "WARNING:torch_estimator:loud\n"
        est.logging.set_verbosity(est.logging.DEBUG)
        assert est.logging.get_verbosity() == logging.DEBUG


def test_estimator_construction_makes_logs_visible(monkeypatch, tmp_path, capsys):
    with bare_logging(monkeypatch):
        est.Estimator(lambda features, labels, mode: None, model_dir=str(tmp_path),
                      config=est.RunConfig(progress_bar=False))
    assert "INFO:torch_estimator:Using config: " in capsys.readouterr().err
