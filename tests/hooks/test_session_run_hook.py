"""The hook lifecycle, fetches by name and SecondOrStepTimer, through real Estimator runs."""

from __future__ import annotations

import copy
import functools
import itertools
import os
import types

import numpy as np
import pytest
import torch

import torch_estimator as est
from conftest import linear_model_fn
from torch_estimator.hooks import session_run_hook
from torch_estimator.loops.train import train_loop
from torch_estimator.state import TrainState


class RecordingHook(est.SessionRunHook):
    """Records every lifecycle call; fetches ``fetches``; stops once ``global_step >= stop_at``."""

    def __init__(self, fetches=None, stop_at=None):
        self.fetches, self.stop_at = fetches, stop_at
        self.events: list = []
        self.results: list = []

    def begin(self):
        self.events.append("begin")

    def after_create_session(self, session, coord):
        self.events.append(("after_create_session", session.global_step, coord))

    def before_run(self, run_context):
        self.events.append("before_run")
        if self.stop_at is not None:
            return est.SessionRunArgs("global_step")
        return None if self.fetches is None else est.SessionRunArgs(self.fetches)

    def after_run(self, run_context, run_values):
        self.events.append("after_run")
        self.results.append(run_values.results)
        if self.stop_at is not None and run_values.results >= self.stop_at:
            run_context.request_stop()

    def end(self, session):
        self.events.append(("end", session.global_step))


def lifecycle(start: int, steps: int) -> list:
    return (["begin", ("after_create_session", start, None)] + ["before_run", "after_run"] * steps
            + [("end", start + steps)])


# -- lifecycle --------------------------------------------------------------------------------
def test_lifecycle_order_and_restored_step(make_estimator, train_input):
    estimator = make_estimator()
    first = RecordingHook()
    estimator.train(train_input, hooks=[first], steps=3)
    assert first.events == lifecycle(0, 3)

    resident = RecordingHook()
    estimator.train(train_input, hooks=[resident], steps=2)
    assert resident.events == lifecycle(3, 2)

    restored = RecordingHook()  # a new Estimator restores step 5 from the checkpoint on disk
    make_estimator().train(train_input, hooks=[restored], steps=1)
    assert restored.events == lifecycle(5, 1)


def test_request_stop_in_after_run_ends_training_after_that_step(make_estimator, train_input):
    estimator = make_estimator()
    hook = RecordingHook(stop_at=3)
    estimator.train(train_input, hooks=[hook], steps=10)
    assert hook.results == [1, 2, 3]
    assert estimator.get_variable_value("global_step") == 3
    assert os.path.basename(estimator.latest_checkpoint()) == "model.ckpt-3"


def test_duck_typed_hook_without_after_create_session_is_run(make_estimator, train_input):
    class Minimal:  # the four Protocol methods only
        def __init__(self):
            self.calls = []

        def begin(self):
            self.calls.append("begin")

        def before_run(self, run_context):
            return est.SessionRunArgs("global_step")

        def after_run(self, run_context, run_values):
            self.calls.append(run_values.results)

        def end(self, session):
            self.calls.append("end")

    hook = Minimal()
    assert isinstance(hook, est.hooks.SessionRunHookProtocol)
    make_estimator().train(train_input, hooks=[hook], steps=2)
    assert hook.calls == ["begin", 1, 2, "end"]


def _spec_hooks_model_fn(made):
    """linear_model_fn whose every call returns fresh hooks in all four EstimatorSpec fields."""

    def model_fn(features, labels, mode, params):
        spec = linear_model_fn(features, labels, mode, params)
        hooks = {field: RecordingHook() for field in made}
        for field, hook in hooks.items():
            made[field].append(hook)
        return spec._replace(**{field: [hook] for field, hook in hooks.items()})

    return model_fn


def test_estimator_spec_hooks_are_adopted_from_the_first_model_fn_call(make_estimator, train_input, eval_input):
    made = {"training_hooks": [], "training_chief_hooks": [], "evaluation_hooks": [], "prediction_hooks": []}
    estimator = make_estimator(model_fn=_spec_hooks_model_fn(made), params={})

    estimator.train(train_input, steps=3)
    for field in ("training_hooks", "training_chief_hooks"):
        assert len(made[field]) == 3
        assert made[field][0].events == lifecycle(0, 3)
        assert all(hook.events == [] for hook in made[field][1:])

    estimator.evaluate(eval_input)  # 64 rows / 16 = 4 batches
    evaluation = made["evaluation_hooks"][3]  # made during evaluate (the 4th model_fn call)
    assert evaluation.events == ["begin", ("after_create_session", 3, None)] + ["before_run", "after_run"] * 4 \
        + [("end", 3)]
    assert made["training_hooks"][3].events == []

    predictions = list(estimator.predict(eval_input, yield_single_examples=False))
    assert len(predictions) == 4
    prediction = made["prediction_hooks"][7]
    assert prediction.events == ["begin", ("after_create_session", 3, None)] + ["before_run", "after_run"] * 4 \
        + [("end", 3)]
    assert all(hook.events == [] for hook in made["prediction_hooks"][8:])


def test_training_chief_hooks_are_skipped_off_the_chief():
    made = {"training_hooks": [], "training_chief_hooks": []}
    model_fn = functools.partial(_spec_hooks_model_fn(made), params={})
    batches = itertools.repeat(({"x": torch.ones(4, 3)}, torch.ones(4, 1)))
    for chief in (True, False):
        ran = train_loop(TrainState(), batches, model_fn, [], device=torch.device("cpu"), last_step=2,
                         chief_hooks=chief)
        assert ran == 2
        assert made["training_hooks"][-2].events == lifecycle(0, 2)
        assert made["training_chief_hooks"][-2].events == (lifecycle(0, 2) if chief else [])


# -- fetches ----------------------------------------------------------------------------------
def test_fetches_by_name_return_python_and_numpy_values_in_the_same_structure(make_estimator, train_input,
                                                                              regression):
    _, labels = regression
    hook = RecordingHook(fetches={"loss": "loss", "pair": ("global_step", "y"), "list": ["loss"],
                                  "str_subclass": np.str_("global_step")})
    single = RecordingHook(fetches="global_step")
    make_estimator().train(train_input, hooks=[hook, single], steps=2)

    assert single.results == [1, 2]
    first = hook.results[0]
    assert set(first) == {"loss", "pair", "list", "str_subclass"}
    assert first["str_subclass"] == 1
    assert type(first["loss"]) is float
    assert isinstance(first["pair"], tuple) and first["pair"][0] == 1 and type(first["pair"][0]) is int
    predictions = first["pair"][1]
    assert isinstance(predictions, np.ndarray) and predictions.shape == (16, 1)
    assert first["list"] == [first["loss"]]
    # The fetched loss is the loss of the fetched predictions on the first batch.
    assert first["loss"] == pytest.approx(float(np.mean((predictions - labels[:16]) ** 2)), rel=1e-5)
    assert hook.results[1]["pair"][0] == 2


def test_fetches_edited_in_place_between_steps_are_honoured(make_estimator, train_input):
    class Growing(est.SessionRunHook):
        """Returns the same request every step, adding a name to its list and dict on step 2."""

        def __init__(self, fetches):
            self.request = est.SessionRunArgs(fetches)
            self.results = []

        def before_run(self, run_context):
            if len(self.results) == 1:
                if isinstance(self.request.fetches, list):
                    self.request.fetches.append("global_step")
                else:
                    self.request.fetches["step"] = "global_step"
            return self.request

        def after_run(self, run_context, run_values):
            self.results.append(copy.deepcopy(run_values.results))

    as_list, as_dict = Growing(["global_step"]), Growing({"first": "global_step"})
    make_estimator().train(train_input, hooks=[as_list, as_dict], steps=3)
    assert as_list.results == [[1], [2, 2], [3, 3]]
    assert as_dict.results == [{"first": 1}, {"first": 2, "step": 2}, {"first": 3, "step": 3}]


def test_unknown_fetch_name_lists_the_available_names(make_estimator, train_input):
    with pytest.raises(KeyError, match=r"A hook fetched 'nope', which this step does not produce\. "
                                       r"Expected one of \['loss', 'global_step', 'summaries', 'y'\]"):
        make_estimator().train(train_input, hooks=[RecordingHook(fetches=["loss", "nope"])], steps=1)


@pytest.mark.parametrize("fetches, received", [
    (torch.tensor(1.0), "Tensor"),
    (["loss", torch.ones(2)], "Tensor"),
    ({"step": 3}, "int"),
])
def test_a_tensor_or_other_value_as_fetch_is_a_type_error(make_estimator, train_input, eval_input, fetches,
                                                          received):
    expected = (r"A hook fetch must be a name, or a list/tuple/dict of names\. "
                rf".*Received: fetch='{received}'\. Fetch values by name")
    estimator = make_estimator(save_summary_steps=0)  # no other hook asks for 'summaries' first
    with pytest.raises(TypeError, match=expected):
        estimator.train(train_input, hooks=[RecordingHook(fetches=fetches)], steps=1)
    with pytest.raises(TypeError, match=expected):
        estimator.evaluate(eval_input, hooks=[RecordingHook(fetches=fetches)])


def test_session_run_context_request_stop():
    context = est.SessionRunContext(original_args=est.SessionRunArgs("loss"), session="state")
    assert not context.stop_requested
    context.request_stop()
    assert context.stop_requested and context.session == "state"


# -- SecondOrStepTimer ------------------------------------------------------------------------
def test_timer_every_steps():
    timer = est.SecondOrStepTimer(every_steps=3)
    assert timer.should_trigger_for_step(0)  # never triggered yet
    assert timer.update_last_triggered_step(0) == (None, None)
    assert not timer.should_trigger_for_step(0)
    assert not timer.should_trigger_for_step(2)
    assert timer.should_trigger_for_step(3)
    elapsed_secs, elapsed_steps = timer.update_last_triggered_step(4)
    assert elapsed_steps == 4 and elapsed_secs >= 0
    assert timer.last_triggered_step() == 4
    assert not timer.should_trigger_for_step(6)
    assert timer.should_trigger_for_step(7)
    timer.reset()
    assert timer.last_triggered_step() is None and timer.should_trigger_for_step(5)


def test_timer_every_secs(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(session_run_hook, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    timer = est.SecondOrStepTimer(every_secs=10)
    assert timer.should_trigger_for_step(1)
    assert timer.update_last_triggered_step(1) == (None, None)
    now[0] = 109.5
    assert not timer.should_trigger_for_step(50)
    now[0] = 110.0
    assert timer.should_trigger_for_step(50)
    assert not timer.should_trigger_for_step(1)  # the same step never triggers twice
    assert timer.update_last_triggered_step(50) == (10.0, 49)


@pytest.mark.parametrize("kwargs", [{}, {"every_secs": 1, "every_steps": 1}])
def test_timer_needs_exactly_one_period(kwargs):
    with pytest.raises(ValueError, match="Exactly one of every_secs and every_steps must be set"):
        est.SecondOrStepTimer(**kwargs)


@pytest.mark.parametrize("kwargs, received", [({"every_steps": 0}, "every_steps=0"),
                                              ({"every_secs": -1}, "every_secs=-1")])
def test_timer_period_must_be_positive(kwargs, received):
    with pytest.raises(ValueError, match=f"The timer period must be positive.*{received}"):
        est.SecondOrStepTimer(**kwargs)


def test_unknown_fetch_message_prints_without_repr_quotes(make_estimator, train_input):
    class Fetcher(est.SessionRunHook):
        def before_run(self, run_context):
            return est.SessionRunArgs("nope")

    with pytest.raises(KeyError) as info:
        make_estimator().train(train_input, steps=1, hooks=[Fetcher()])
    assert str(info.value).startswith("A hook fetched 'nope'")
