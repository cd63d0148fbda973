"""TrainSpec and EvalSpec: TensorFlow's defaults and rules, every problem reported at once."""

from __future__ import annotations

import dataclasses

import pytest

import torch_estimator as est
from torch_estimator.export.exporters import FinalExporter, LatestExporter
from torch_estimator.training import EvalSpec, InvalidSpecError, TrainSpec


def input_fn():
    return {"x": [[1.0]]}, [[1.0]]


def serving_fn():
    return None


def test_train_spec_defaults_and_normalisation():
    spec = TrainSpec(input_fn)
    assert (spec.max_steps, spec.hooks, spec.saving_listeners) == (None, (), ())
    hook, listener = est.StopAtStepHook(last_step=3), est.CheckpointSaverListener()
    spec = TrainSpec(input_fn, max_steps=10, hooks=[hook], saving_listeners=[listener])
    assert spec.hooks == (hook,) and spec.saving_listeners == (listener,)


def test_train_spec_reports_every_problem_at_once():
    with pytest.raises(InvalidSpecError) as info:
        TrainSpec(input_fn(), max_steps=0, hooks=[object()], saving_listeners=[3])
    text = str(info.value)
    assert text.startswith("Invalid TrainSpec:\n  - input_fn must be callable.")
    assert "Pass the function itself, not its result (no parentheses)." in text
    assert "Must specify max_steps > 0. Expected a positive int, or None for training until the input ends. " \
           "Received: max_steps=0." in text
    assert "All hooks must be est.SessionRunHook instances. Expected objects with begin/before_run/after_run/end. " \
           "Received: hooks of types ['object']. Subclass est.SessionRunHook." in text
    assert "All saving_listeners must be est.CheckpointSaverListener instances" in text
    # TensorFlow raised TypeError for some of these and ValueError for others: both still catch it.
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


@pytest.mark.parametrize("max_steps", [-1, 1.5, True, "10"])
def test_train_spec_max_steps_must_be_a_positive_int(max_steps):
    with pytest.raises(ValueError, match=r"Must specify max_steps > 0.*Received: max_steps="):
        TrainSpec(input_fn, max_steps=max_steps)


def test_specs_are_frozen_and_replace_revalidates():
    spec = TrainSpec(input_fn, max_steps=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.max_steps = 20
    assert spec.replace(max_steps=20).max_steps == 20
    with pytest.raises(ValueError, match="Must specify max_steps > 0"):
        spec.replace(max_steps=0)
    eval_spec = EvalSpec(input_fn)
    assert eval_spec.replace(name="validation").name == "validation"


def test_eval_spec_defaults_are_tensorflows():
    spec = EvalSpec(input_fn)
    assert (spec.steps, spec.name, spec.hooks, spec.exporters) == (100, None, (), ())
    assert (spec.start_delay_secs, spec.throttle_secs, spec.every_n_steps) == (120, 600, None)


def test_eval_spec_accepts_one_exporter_or_an_iterable():
    latest = LatestExporter("latest", serving_fn)
    assert EvalSpec(input_fn, exporters=latest).exporters == (latest,)
    final = FinalExporter("final", serving_fn)
    assert EvalSpec(input_fn, exporters=(e for e in (latest, final))).exporters == (latest, final)
    assert EvalSpec(input_fn, exporters=None).exporters == ()


def test_eval_spec_reports_every_problem_at_once():
    with pytest.raises(InvalidSpecError) as info:
        EvalSpec(None, steps=0, name=3, hooks=[1], start_delay_secs=-1, throttle_secs=-0.5, every_n_steps=0)
    text = str(info.value)
    assert text.startswith("Invalid EvalSpec:\n  - input_fn must be callable.")
    for expected in ("Must specify steps > 0. Expected a positive int, or None for the whole input. "
                     "Received: steps=0.",
                     "name must be a string or None. Received: name=3. Pass e.g. name='validation'",
                     "All hooks must be est.SessionRunHook instances",
                     "Must specify start_delay_secs >= 0. Expected a number of seconds >= 0. "
                     "Received: start_delay_secs=-1.",
                     "Must specify throttle_secs >= 0. Expected a number of seconds >= 0. "
                     "Received: throttle_secs=-0.5.",
                     "Must specify every_n_steps > 0. Expected a positive int, or None for TensorFlow's checkpoint "
                     "schedule. Received: every_n_steps=0."):
        assert expected in text
    assert text.count("\n  - ") == 7


def test_exporter_names_must_be_unique():
    first, second = LatestExporter("exporter", serving_fn), FinalExporter("exporter", serving_fn)
    with pytest.raises(ValueError) as info:
        EvalSpec(input_fn, exporters=[first, second, LatestExporter("other", serving_fn)])
    assert ("exporters must have unique names (each is a directory under model_dir/export). Received: "
            "names=['exporter', 'exporter', 'other'], repeated=['exporter']. Give each exporter its own name."
            in str(info.value))


class NamedExporter:
    def __init__(self, name):
        self.name = name

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        return None


def test_custom_exporters_are_checked_structurally_and_by_name():
    assert EvalSpec(input_fn, exporters=[NamedExporter("mine")]).exporters[0].name == "mine"
    with pytest.raises(ValueError) as info:
        EvalSpec(input_fn, exporters=[NamedExporter(""), NamedExporter("../up"), object()])
    text = str(info.value)
    assert "An exporter name must be a non-empty string. Received: name=''." in text
    assert ("An exporter name is a directory name under model_dir/export, so it cannot contain path separators "
            "or be '.' or '..'. Received: name='../up'." in text)
    assert ("exporters must be an Exporter, an iterable of Exporters, or None. Expected objects with a name and "
            "export(estimator, export_path, checkpoint_path, eval_result, is_the_final_export). Received: object."
            in text)


def test_collections_that_are_not_iterable_are_reported():
    with pytest.raises(InvalidSpecError) as info:
        TrainSpec(input_fn, hooks=5)
    assert "hooks must be an iterable of est.SessionRunHooks. Received: hooks=5." in str(info.value)
    with pytest.raises(InvalidSpecError) as info:
        EvalSpec(input_fn, exporters=5)
    assert "exporters must be an Exporter, an iterable of Exporters, or None. Received: exporters=5." in str(info.value)
