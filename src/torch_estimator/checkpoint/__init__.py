"""Checkpoints: ``model_dir/checkpoint`` index plus one DCP directory per saved step."""

from torch_estimator.checkpoint.manager import CHECKPOINT_BASENAME, CheckpointManager, checkpoint_step

__all__ = ["CHECKPOINT_BASENAME", "CheckpointManager", "checkpoint_step"]
