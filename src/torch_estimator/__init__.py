"""torch_estimator: TensorFlow's Estimator system, re-created on PyTorch.

Conventional import::

    import torch_estimator as est

The contract: ``input_fn`` yields ``(features, labels)`` batches; ``model_fn(features, labels,
mode, params, config)`` returns an :class:`EstimatorSpec`; an :class:`Estimator` trains,
evaluates and predicts with it, with checkpoints, summaries and hooks. See README.md.
"""

from torch_estimator import (
    data,
    experimental,
    export,
    feature_column,
    heads,
    hooks,
    inputs,
    keras,
    metrics,
    serving,
    summary,
    testing,
    train,
    training,
    tuning,
)
from torch_estimator import verbosity as logging
from torch_estimator.canned import (
    BaselineClassifier,
    BaselineEstimator,
    BaselineRegressor,
    DNNClassifier,
    DNNEstimator,
    DNNLinearCombinedClassifier,
    DNNLinearCombinedEstimator,
    DNNLinearCombinedRegressor,
    DNNRegressor,
    LinearClassifier,
    LinearEstimator,
    LinearRegressor,
    add_metrics,
)
from torch_estimator.checkpoint.warm_start import WarmStartSettings
from torch_estimator.config import RunConfig
from torch_estimator.distributed import InputContext
from torch_estimator.errors import CheckpointError, InvalidSpecError, NanLossDuringTrainingError
from torch_estimator.estimator import Estimator
from torch_estimator.export.exporters import BestExporter, Exporter, FinalExporter, LatestExporter
from torch_estimator.heads import (
    BinaryClassHead,
    LogisticRegressionHead,
    MultiClassHead,
    MultiHead,
    MultiLabelHead,
    PoissonRegressionHead,
    RegressionHead,
    losses,
)
from torch_estimator.hooks import (
    CheckpointSaverHook,
    CheckpointSaverListener,
    FinalOpsHook,
    LoggingTensorHook,
    NanTensorHook,
    ProfilerHook,
    SecondOrStepTimer,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
    StepCounterHook,
    StopAtStepHook,
    SummarySaverHook,
)
from torch_estimator.mode_keys import ModeKeys
from torch_estimator.modules import get_module
from torch_estimator.spec import EstimatorSpec
from torch_estimator.training import EvalSpec, TrainSpec, train_and_evaluate

__version__ = "0.1.0"

__all__ = [
    "BaselineClassifier", "BaselineEstimator", "BaselineRegressor", "DNNClassifier", "DNNEstimator",
    "DNNLinearCombinedClassifier", "DNNLinearCombinedEstimator", "DNNLinearCombinedRegressor", "DNNRegressor",
    "LinearClassifier", "LinearEstimator", "LinearRegressor", "add_metrics", "feature_column",
    "BinaryClassHead", "LogisticRegressionHead", "MultiClassHead", "MultiHead", "MultiLabelHead",
    "PoissonRegressionHead", "RegressionHead", "heads", "losses",
    "BestExporter", "CheckpointError", "CheckpointSaverHook", "CheckpointSaverListener", "Estimator",
    "EstimatorSpec", "EvalSpec", "Exporter", "FinalExporter", "FinalOpsHook", "InputContext", "InvalidSpecError",
    "LatestExporter", "LoggingTensorHook", "ModeKeys", "NanLossDuringTrainingError", "NanTensorHook",
    "ProfilerHook", "RunConfig", "SecondOrStepTimer", "SessionRunArgs", "SessionRunContext", "SessionRunHook",
    "SessionRunValues", "StepCounterHook", "StopAtStepHook", "SummarySaverHook", "TrainSpec", "WarmStartSettings",
    "data", "experimental", "export", "get_module", "hooks", "inputs", "keras", "logging", "metrics", "serving", "summary", "testing",
    "train", "train_and_evaluate", "training", "tuning",
]
