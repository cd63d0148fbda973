"""Run configuration (frozen dataclasses validated on construction)."""

from torch_estimator.config.run_config import RunConfig

__all__ = ["RunConfig"]
