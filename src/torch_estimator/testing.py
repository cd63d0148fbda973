"""``est.testing.assert_estimator_contract``: the conformance check every Estimator must pass.

Like Keras' ``run_layer_test``: one function that drives an Estimator through the whole
contract — train, evaluate, predict, export, reload the export with both backends — and checks
that the served predictions equal ``Estimator.predict``. Canned estimators and Keras models run
it in their tests; users can run it on their own ``model_fn``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from torch_estimator.export.predictor import BACKENDS, load


def assert_estimator_contract(estimator: Any, train_input_fn: Callable, serving_input_receiver_fn: Callable,
                              serving_features: Mapping[str, Any], *, steps: int = 2,
                              eval_input_fn: Callable | None = None, rtol: float = 1e-5,
                              atol: float = 1e-6) -> dict[str, Any]:
    """Trains ``steps`` steps, evaluates, predicts, exports, reloads and compares predictions.

    Args:
        estimator: The Estimator under test (its ``model_dir`` receives checkpoints and the export).
        train_input_fn: Training input (also used for evaluation unless ``eval_input_fn``).
        serving_input_receiver_fn: The receiver to export with.
        serving_features: One batch of serving inputs by receiver name; also the features given
            to ``Estimator.predict`` (so receiver names must equal feature names).
        steps: Training steps.
        eval_input_fn: Evaluation input; default ``train_input_fn`` (at most 2 batches).
        rtol: Relative tolerance between served and ``predict`` outputs.
        atol: Absolute tolerance.

    Returns:
        ``{"metrics": evaluate's result, "export_dir": path, "predictions": predict's batch}``.

    Raises:
        AssertionError: naming the step of the contract that failed and what differed.

    Example:
        >>> import tempfile, torch, torch_estimator as est
        >>> def model_fn(features, labels, mode):
        ...     net = est.get_module("net", lambda: torch.nn.Linear(3, 1))
        ...     predictions = {"y": net(features["x"])}
        ...     if mode == est.ModeKeys.PREDICT:
        ...         return est.EstimatorSpec(mode, predictions=predictions)
        ...     loss = torch.nn.functional.mse_loss(predictions["y"], labels)
        ...     return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))
        >>> x, y = torch.randn(8, 3), torch.randn(8, 1)
        >>> estimator = est.Estimator(model_fn, model_dir=tempfile.mkdtemp(),
        ...                           config=est.RunConfig(progress_bar=False))
        >>> receiver = est.export.build_raw_serving_input_receiver_fn({"x": x})
        >>> result = est.testing.assert_estimator_contract(estimator, lambda: ({"x": x}, y), receiver,
        ...                                                 {"x": x.numpy()})
        >>> result["metrics"]["global_step"]
        2
    """
    start = estimator.evaluate(eval_input_fn or train_input_fn, steps=2)["global_step"]
    estimator.train(train_input_fn, steps=steps)
    metrics = estimator.evaluate(eval_input_fn or train_input_fn, steps=2)
    _check(metrics["global_step"] == start + steps,
           f"evaluate reports global_step={metrics['global_step']}, expected {start + steps} after train(steps={steps})")
    _check(all(math.isfinite(v) for v in metrics.values() if isinstance(v, float)),
           f"evaluate returned non-finite metrics: {metrics}")
    batch = next(estimator.predict(lambda: dict(serving_features), yield_single_examples=False))
    predictions = batch if isinstance(batch, dict) else {"output": batch}
    export_dir = estimator.export_saved_model(os.path.join(estimator.model_dir, "contract_export"),
                                              serving_input_receiver_fn)
    for backend in BACKENDS:
        predictor = load(export_dir, backend=backend)
        compared = 0
        for signature in predictor.signatures:  # e.g. heads' 'predict' carries every prediction key
            served = predictor(dict(serving_features), signature=signature)
            for key in sorted(set(served) & set(predictions)):
                if np.asarray(predictions[key]).dtype.kind in "OUS":
                    continue  # string predictions (class names) are served as ids: not comparable
                compared += 1
                _check(np.allclose(served[key], predictions[key], rtol=rtol, atol=atol),
                       f"the {backend} export's {signature}/{key} differs from Estimator.predict by up to "
                       f"{np.max(np.abs(served[key] - predictions[key])):.3g}")
        _check(compared > 0, f"no signature of the {backend} export {sorted(predictor.signatures)} shares an output "
                             f"key with predict's {sorted(predictions)}")
    return {"metrics": metrics, "export_dir": export_dir, "predictions": predictions}


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(f"Estimator contract violated: {what}.")
