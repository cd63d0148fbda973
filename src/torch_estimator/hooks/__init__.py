"""Hooks: TensorFlow's ``SessionRunHook`` lifecycle and standard hooks, for eager loops."""

from torch_estimator.hooks.basic_hooks import (
    CheckpointSaverHook,
    FinalOpsHook,
    LoggingTensorHook,
    NanTensorHook,
    ProfilerHook,
    StepCounterHook,
    StopAtStepHook,
    SummarySaverHook,
)
from torch_estimator.hooks.progress import ProgressHook
from torch_estimator.hooks.session_run_hook import (
    CheckpointSaverListener,
    SecondOrStepTimer,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunHookProtocol,
    SessionRunValues,
)

__all__ = [
    "CheckpointSaverHook", "CheckpointSaverListener", "FinalOpsHook", "LoggingTensorHook", "NanTensorHook",
    "ProfilerHook", "ProgressHook", "SecondOrStepTimer", "SessionRunArgs", "SessionRunContext",
    "SessionRunHook", "SessionRunHookProtocol", "SessionRunValues", "StepCounterHook", "StopAtStepHook",
    "SummarySaverHook",
]
