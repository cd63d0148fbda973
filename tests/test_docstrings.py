"""Every runnable example in the package's docstrings runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import torch_estimator

MODULES = sorted(info.name for info in pkgutil.walk_packages(torch_estimator.__path__, "torch_estimator."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_examples_exist_for_the_public_entry_points():
    finder = doctest.DocTestFinder()
    for obj in (torch_estimator.Estimator, torch_estimator.EstimatorSpec, torch_estimator.RunConfig,
                torch_estimator.train.minimize, torch_estimator.metrics.accuracy, torch_estimator.inputs.numpy_input_fn):
        assert any(test.examples for test in finder.find(obj)), f"{obj.__qualname__} has no runnable example"
