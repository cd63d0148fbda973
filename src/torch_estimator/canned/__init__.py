"""Canned estimators: a head, a network over feature columns, and a ``model_fn`` closure."""

from torch_estimator.canned.baseline import BaselineClassifier, BaselineEstimator, BaselineRegressor
from torch_estimator.canned.dnn import DNNClassifier, DNNEstimator, DNNRegressor
from torch_estimator.canned.dnn_linear_combined import (
    DNNLinearCombinedClassifier,
    DNNLinearCombinedEstimator,
    DNNLinearCombinedRegressor,
)
from torch_estimator.canned.extenders import add_metrics
from torch_estimator.canned.linear import LinearClassifier, LinearEstimator, LinearRegressor

__all__ = [
    "BaselineClassifier", "BaselineEstimator", "BaselineRegressor", "DNNClassifier", "DNNEstimator",
    "DNNLinearCombinedClassifier", "DNNLinearCombinedEstimator", "DNNLinearCombinedRegressor", "DNNRegressor",
    "LinearClassifier", "LinearEstimator", "LinearRegressor", "add_metrics",
]
