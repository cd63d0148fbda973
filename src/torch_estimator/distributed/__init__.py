"""Process and cluster facts; the only package that reads environment variables."""

from torch_estimator.distributed.cluster import ClusterInfo, TaskType, read_cluster_info
from torch_estimator.distributed.input_context import InputContext

__all__ = ["ClusterInfo", "InputContext", "TaskType", "read_cluster_info"]
