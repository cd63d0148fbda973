"""The compiled Keras optimizer trains, with Keras's numerics, and its state resumes from checkpoints."""

from __future__ import annotations

from keras_setup import lecture_model, quiet_config, regression_data  # first: sets KERAS_BACKEND=torch
import keras
import numpy as np
import pytest
import torch

import torch_estimator as est
from torch_estimator.keras.optimizer import KerasOptimizer


def _schedule_adam():
    return keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=2, decay_rate=0.5))


def _batch():
    x, y = regression_data()
    return x[:32], y[:32]


def _trained_weights(model, estimator):
    target = keras.models.clone_model(model)
    return [w for w in est.keras.load_weights(target, estimator).get_weights()]


@pytest.mark.parametrize("optimizer", [_schedule_adam, lambda: keras.optimizers.SGD(0.05, momentum=0.9),
                                       lambda: keras.optimizers.RMSprop(0.01)])
def test_steps_equal_keras_fit(tmp_path, optimizer):
    x, y = _batch()
    model = lecture_model(optimizer=optimizer())
    estimator = est.keras.model_to_estimator(keras_model=model, model_dir=str(tmp_path), config=quiet_config())
    estimator.train(lambda: ({"rawdata_input": torch.from_numpy(x)}, torch.from_numpy(y)), steps=4)
    model.fit(x, y, batch_size=32, epochs=4, shuffle=False, verbose=0)
    for ours, theirs in zip(_trained_weights(model, estimator), model.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_optimizer_state_and_schedule_resume_from_checkpoint(tmp_path):
    x, y = _batch()
    batch = lambda: ({"rawdata_input": torch.from_numpy(x)}, torch.from_numpy(y))  # noqa: E731
    straight = est.keras.model_to_estimator(keras_model=lecture_model(optimizer=_schedule_adam()),
                                            model_dir=str(tmp_path / "straight"), config=quiet_config())
    straight.train(batch, steps=4)
    first = est.keras.model_to_estimator(keras_model=lecture_model(optimizer=_schedule_adam()),
                                         model_dir=str(tmp_path / "resumed"), config=quiet_config())
    first.train(batch, steps=2)
    assert any(key.endswith("keras/0/iteration") for key in first.get_variable_names())
    # A new process would build a new Estimator over the same model_dir: it resumes at step 2.
    resumed = est.keras.model_to_estimator(keras_model=lecture_model(optimizer=_schedule_adam()),
                                           model_dir=str(tmp_path / "resumed"), config=quiet_config())
    resumed.train(batch, steps=2)
    model = lecture_model()
    for a, b in zip(_trained_weights(model, straight), _trained_weights(model, resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_mismatched_optimizer_state_is_an_error():
    model = lecture_model(optimizer="adam")
    optimizer = KerasOptimizer(model.optimizer, list(model.trainable_variables))
    state = optimizer.state_dict()
    state["state"][0] = {"keras/0/iteration": torch.zeros(())}
    with pytest.raises(est.CheckpointError, match=r"^The checkpoint's Keras optimizer state does not match the "
                                                  r"compiled optimizer\. Expected 10 variables .* Received: "
                                                  r"saved=\['keras/0/iteration'\]\. Use a new model_dir"):
        optimizer.load_state_dict(state)
