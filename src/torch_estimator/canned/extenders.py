"""``add_metrics``: a new Estimator that also reports your metrics (TensorFlow's ``tf.estimator.add_metrics``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch_estimator.errors import message
from torch_estimator.estimator import Estimator
from torch_estimator.mode_keys import ModeKeys
from torch_estimator.model_fn import fn_args

_METRIC_FN_ARGS = frozenset({"predictions", "features", "labels", "config"})


def add_metrics(estimator: Estimator, metric_fn: Callable[..., Mapping[str, Any]]) -> Estimator:
    """Returns a new Estimator on the same ``model_dir`` whose evaluation adds ``metric_fn``'s metrics.

    ``metric_fn`` takes any of ``predictions``, ``features``, ``labels``, ``config`` (by name) and
    returns ``{name: est.metrics.*(...)}``; a name already reported by the model replaces it.

    Example:
        >>> import tempfile, numpy as np, torch_estimator as est
        >>> regressor = est.LinearRegressor([est.feature_column.numeric_column("x")],
        ...                                 model_dir=tempfile.mkdtemp(), config=est.RunConfig(progress_bar=False))
        >>> def rmse_in_dollars(labels, predictions):
        ...     return {"rmse": est.metrics.root_mean_squared_error(labels * 1e5, predictions["predictions"] * 1e5)}
        >>> data = {"x": np.arange(4, dtype=np.float32)}, np.arange(4, dtype=np.float32)
        >>> "rmse" in est.add_metrics(regressor, rmse_in_dollars).train(lambda: data, steps=1).evaluate(lambda: data)
        True
    """
    if not isinstance(estimator, Estimator):
        raise TypeError(message("add_metrics needs an Estimator", estimator=type(estimator).__name__))
    args = fn_args(metric_fn)
    unexpected = sorted(set(args) - _METRIC_FN_ARGS)
    if unexpected:
        raise ValueError(message(f"metric_fn ({metric_fn!r}) has following not expected args: {unexpected}",
                                 expected=f"argument names among {sorted(_METRIC_FN_ARGS)}", fix="Rename them",
                                 args=list(args)))
    original = estimator._model_fn

    def model_fn(features: Any, labels: Any, mode: str, config: Any):
        spec = original(features, labels, mode)
        if mode != ModeKeys.EVAL:
            return spec
        available = {"predictions": spec.predictions, "features": features, "labels": labels, "config": config}
        added = metric_fn(**{name: available[name] for name in args})
        if not isinstance(added, Mapping):
            raise TypeError(message("metric_fn must return a dict of metrics",
                                    expected="{name: est.metrics.mean(...)}", returned=type(added).__name__))
        return spec._replace(eval_metric_ops={**spec.eval_metric_ops, **added})

    return Estimator(model_fn, model_dir=estimator.model_dir, config=estimator.config,
                     warm_start_from=estimator._warm_start)
