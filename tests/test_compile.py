"""RunConfig(compile=True): modules are torch.compile'd in place; checkpoint keys do not change."""

from __future__ import annotations

import numpy as np
import pytest



@pytest.mark.slow  # a cold inductor compile takes tens of seconds on CPU
def test_compiled_training_matches_eager_and_keeps_checkpoint_keys(make_estimator, train_input, tmp_path):
    eager = make_estimator(model_dir=str(tmp_path / "eager"))
    eager.train(train_input, steps=5)
    compiled = make_estimator(model_dir=str(tmp_path / "compiled"), compile=True)
    compiled.train(train_input, steps=5)
    assert compiled.get_variable_names() == eager.get_variable_names()
    np.testing.assert_allclose(compiled.get_variable_value("net.weight"), eager.get_variable_value("net.weight"),
                               rtol=1e-4, atol=1e-5)
