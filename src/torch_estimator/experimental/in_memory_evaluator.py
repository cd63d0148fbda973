"""``InMemoryEvaluatorHook``: evaluate during training from the weights in memory.

TensorFlow's version built a second graph and copied every variable into it for each
evaluation (and leaked memory doing so: tensorflow/tensorflow#30807). Here the model is
resident, so the hook calls ``estimator.evaluate`` on the very modules being trained:

* no checkpoint is read or written: ``evaluate`` uses the weights in memory, which are newer
  than any checkpoint during training;
* the evaluation runs in eval mode under ``torch.no_grad`` and on a forked RNG, and the training
  loop puts the modules back in train mode before its next step, so training continues exactly
  as it would have without the hook (same losses, dropout included);
* results go where ``evaluate`` puts them: TensorBoard in ``eval_dir(name)`` and the evaluation
  log that early-stopping hooks read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from torch_estimator.errors import message
from torch_estimator.estimator import Estimator
from torch_estimator.hooks import SessionRunArgs, SessionRunHook

_GLOBAL_STEP = SessionRunArgs("global_step")


class InMemoryEvaluatorHook(SessionRunHook):
    """Evaluates every ``every_n_iter`` training iterations and at the end, without a checkpoint.

    Iterations are counted from the start of each ``train`` call (TensorFlow's rule). The end
    of training is evaluated unless its step was just evaluated. Unlike TensorFlow's hook, it
    does not evaluate before the first step.

    Args:
        estimator: The Estimator being trained (the hook calls its ``evaluate``).
        input_fn: The evaluation ``input_fn``.
        steps: Batches per evaluation; None reads the input to its end.
        hooks: ``SessionRunHook``s for each evaluation.
        name: Evaluation name (results in ``model_dir/eval_<name>``).
        every_n_iter: Training iterations between two evaluations.

    Raises:
        ValueError: ``every_n_iter`` or ``steps`` is not a positive int; several processes train
            (TensorFlow's hook was single-machine too).
        TypeError: ``estimator`` is not an Estimator or ``input_fn`` is not callable.

    Example:
        >>> import tempfile, torch, torch_estimator as est
        >>> from torch_estimator.experimental import InMemoryEvaluatorHook
        >>> from torch_estimator.summary.eval_log import read_eval_metrics
        >>> def model_fn(features, labels, mode):
        ...     net = est.get_module("net", lambda: torch.nn.Linear(1, 1))
        ...     loss = torch.nn.functional.mse_loss(net(features), labels)
        ...     return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))
        >>> data = lambda: (torch.ones(4, 1), torch.zeros(4, 1))
        >>> estimator = est.Estimator(model_fn, tempfile.mkdtemp(), est.RunConfig(progress_bar=False))
        >>> hook = InMemoryEvaluatorHook(estimator, data, steps=1, every_n_iter=4)
        >>> _ = estimator.train(data, hooks=[hook], max_steps=10)
        >>> sorted(read_eval_metrics(estimator.eval_dir()))
        [4, 8, 10]
    """

    def __init__(self, estimator: Estimator, input_fn: Callable, steps: int | None = None,
                 hooks: Iterable[Any] | None = None, name: str | None = None, every_n_iter: int = 100) -> None:
        if not isinstance(estimator, Estimator):
            raise TypeError(message("estimator must be an est.Estimator", fix="Pass the Estimator being trained",
                                    estimator=type(estimator).__name__))
        if not callable(input_fn):
            raise TypeError(message("input_fn must be callable", fix="Pass the function itself, not its result",
                                    input_fn=input_fn))
        for arg, value in (("every_n_iter", every_n_iter), ("steps", steps)):
            if (value is not None or arg == "every_n_iter") and (
                    not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise ValueError(message(f"invalid {arg}", expected="a positive int" +
                                         (" or None" if arg == "steps" else ""), **{arg: value}))
        config = estimator.config
        if config.num_ps_replicas > 0 or config.num_worker_replicas > 1:
            raise ValueError(message("InMemoryEvaluator supports only single machine (aka Local) setting",
                                     expected="one training process",
                                     fix="Use train_and_evaluate's evaluations in distributed runs",
                                     num_worker_replicas=config.num_worker_replicas,
                                     num_ps_replicas=config.num_ps_replicas))
        self._estimator = estimator
        self._input_fn = input_fn
        self._steps = steps
        self._hooks = list(hooks or ())
        self._name = name
        self._every_n_iter = every_n_iter
        self._iterations = 0
        self._evaluated_step: int | None = None

    def begin(self) -> None:
        self._iterations = 0
        self._evaluated_step = None

    def before_run(self, run_context: Any) -> SessionRunArgs:
        return _GLOBAL_STEP

    def after_run(self, run_context: Any, run_values: Any) -> None:
        self._iterations += 1
        if self._iterations % self._every_n_iter == 0:
            self._evaluate(run_values.results)

    def end(self, session: Any) -> None:
        if session.global_step != self._evaluated_step:
            self._evaluate(session.global_step)

    def _evaluate(self, step: int) -> None:
        self._estimator.evaluate(self._input_fn, steps=self._steps, hooks=self._hooks, name=self._name)
        self._evaluated_step = step
