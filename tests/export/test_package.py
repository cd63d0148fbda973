"""The package's public surface: TensorFlow's names re-exported, each with a runnable example."""

from __future__ import annotations

import doctest

import pytest

from torch_estimator import export

TENSORFLOW_NAMES = ["ServingInputReceiver", "TensorServingInputReceiver", "build_raw_serving_input_receiver_fn",
                    "ExportOutput", "PredictOutput", "ClassificationOutput", "RegressionOutput"]


def test_tensorflow_names_are_exported():
    assert set(TENSORFLOW_NAMES) <= set(export.__all__)
    assert export.DEFAULT_SERVING_SIGNATURE_DEF_KEY == "serving_default"


@pytest.mark.parametrize("name", ["TensorSpec", "ServingInputReceiver", "TensorServingInputReceiver",
                                  "build_raw_serving_input_receiver_fn", "PredictOutput", "ClassificationOutput",
                                  "RegressionOutput", "export_saved_model", "load"])
def test_public_entry_points_have_runnable_examples(name):
    # tests/test_docstrings.py runs them; here: they exist.
    assert any(test.examples for test in doctest.DocTestFinder().find(getattr(export, name))), name


def test_errors_subclass_runtime_error():
    assert issubclass(export.ExportVerificationError, export.ExportError)
    assert issubclass(export.ExportError, RuntimeError)
