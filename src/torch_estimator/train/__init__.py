"""``est.train``: deferred updates (``minimize``), optimizers by name, FTRL, the global step."""

from torch_estimator.train.ftrl import Ftrl
from torch_estimator.train.minimize import TrainOp, get_global_step, get_optimizer, minimize
from torch_estimator.train.optimizers import DEFAULT_LEARNING_RATES, OPTIMIZER_NAMES, make_optimizer

__all__ = ["DEFAULT_LEARNING_RATES", "OPTIMIZER_NAMES", "Ftrl", "TrainOp", "get_global_step", "get_optimizer",
           "make_optimizer", "minimize"]
