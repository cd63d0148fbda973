"""``InputContext``: which part of the input this process reads (TensorFlow's class)."""

from __future__ import annotations

import dataclasses

from torch_estimator.errors import message


@dataclasses.dataclass(frozen=True)
class InputContext:
    """Passed to an ``input_fn`` that declares an ``input_context`` argument.

    Attributes:
        num_input_pipelines: Number of processes reading input.
        input_pipeline_id: This process's index among them.
        num_replicas_in_sync: Replicas whose gradients are averaged each step.

    Example:
        >>> context = InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
        >>> context.get_per_replica_batch_size(64)
        32
    """

    num_input_pipelines: int = 1
    input_pipeline_id: int = 0
    num_replicas_in_sync: int = 1

    def get_per_replica_batch_size(self, global_batch_size: int) -> int:
        """The batch each replica reads so that together they read ``global_batch_size``."""
        if global_batch_size % self.num_replicas_in_sync:
            raise ValueError(message(
                "The global batch size must be divisible by the number of replicas",
                expected=f"a multiple of num_replicas_in_sync={self.num_replicas_in_sync}",
                fix="Choose a divisible global batch size", global_batch_size=global_batch_size))
        return global_batch_size // self.num_replicas_in_sync
