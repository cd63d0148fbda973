"""``Estimator``: validates arguments, keeps the resident model state, and calls a loop.

The contract is TensorFlow's (``tf.estimator.Estimator``); see the class docstring.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from torch_estimator import verbosity
from torch_estimator.checkpoint import CheckpointManager, checkpoint_step, storage
from torch_estimator.checkpoint.warm_start import WarmStartSettings
from torch_estimator.config import RunConfig
from torch_estimator.distributed.cluster import TaskType, default_device, stdio_is_terminal
from torch_estimator.distributed.input_context import InputContext
from torch_estimator.distributed.replication import Replication, agreed_timer
from torch_estimator.errors import message
from torch_estimator.export.writer import export_saved_model
from torch_estimator.hooks import (
    CheckpointSaverHook,
    ProgressHook,
    StepCounterHook,
    SummarySaverHook,
)
from torch_estimator.loops.batches import iterate_batches
from torch_estimator.loops.evaluate import evaluate_loop
from torch_estimator.loops.predict import predict_loop
from torch_estimator.loops.train import train_loop
from torch_estimator.mode_keys import ModeKeys
from torch_estimator.model_fn import ModelFnCaller, call_input_fn
from torch_estimator.state import TrainState
from torch_estimator.summary.eval_log import append_eval_result
from torch_estimator.summary.writer import SummarySink

logger = logging.getLogger("torch_estimator")


class Estimator:
    """Trains, evaluates and predicts with a PyTorch ``model_fn`` (TensorFlow's Estimator).

    ``model_fn(features, labels, mode, params, config)`` is called once per batch, eagerly
    (breakpoints and prints work), and returns an :class:`EstimatorSpec`. Modules made with
    ``est.get_module`` persist across calls; they are checkpointed to ``model_dir`` as
    ``model.ckpt-<step>`` directories with TensorFlow's ``checkpoint`` index, and summaries go
    to TensorBoard event files in ``model_dir`` (training) and ``model_dir/eval`` (evaluation).

    The model stays resident: ``train``, ``evaluate`` and ``predict`` reuse the weights in
    memory and read a checkpoint only when the one to use is not the one in memory (another
    process wrote a newer one, or ``checkpoint_path`` names another one).

    Launched as several processes (torchrun, or a ``TF_CONFIG`` cluster), the same program trains
    data-parallel: see ``docs/distributed.md``.

    With numpy or pandas input, a ``model_fn`` whose code reads ``features`` only through
    Python's dict methods (no C extension or TorchScript function given the dict itself) may
    say so with ``model_fn.lazy_features = True``, as the canned estimators' do: its numeric
    columns then reach ``input_layer`` as one tensor, without a tensor per column per batch
    (see :class:`~torch_estimator.loops.batches.LazyFeatures`), which may share memory with the
    input's data: such a ``model_fn`` must not write to ``input_layer``'s output in place.

    Args:
        model_fn: ``model_fn(features, labels, mode, params, config) -> EstimatorSpec``;
            arguments matched by name. ``features`` is required.
        model_dir: Directory for checkpoints, summaries and exports. Defaults to
            ``config.model_dir``; if both are None a temporary directory is used (with a warning).
        config: A :class:`RunConfig`.
        params: Hyper-parameters passed to ``model_fn`` and ``input_fn`` (deep-copied).
        warm_start_from: A checkpoint or ``model_dir`` path, or :class:`WarmStartSettings`;
            applied when ``model_dir`` has no checkpoint yet.

    Raises:
        ValueError: ``model_fn`` argument names are invalid; ``model_dir`` disagrees with
            ``config.model_dir`` or is not writable; ``config`` is not a RunConfig.

    Example:
        >>> import torch, torch_estimator as est
        >>> def model_fn(features, labels, mode):
        ...     net = est.get_module("net", lambda: torch.nn.Linear(3, 1))
        ...     predictions = net(features["x"])
        ...     if mode == est.ModeKeys.PREDICT:
        ...         return est.EstimatorSpec(mode, predictions=predictions)
        ...     loss = torch.nn.functional.mse_loss(predictions, labels)
        ...     return est.EstimatorSpec(mode, loss=loss, predictions=predictions,
        ...                              train_op=est.train.minimize(loss, "SGD", learning_rate=0.1))
        >>> import tempfile
        >>> estimator = est.Estimator(model_fn, model_dir=tempfile.mkdtemp(),
        ...                           config=est.RunConfig(tf_random_seed=0, progress_bar=False))
        >>> x, y = torch.ones(8, 3), torch.ones(8, 1)
        >>> _ = estimator.train(lambda: ({"x": x}, y), steps=5)
        >>> estimator.evaluate(lambda: ({"x": x}, y))["global_step"]
        5
    """

    def __init__(self, model_fn: Callable, model_dir: str | os.PathLike | None = None,
                 config: RunConfig | None = None, params: dict | None = None,
                 warm_start_from: str | os.PathLike | WarmStartSettings | None = None) -> None:
        verbosity.ensure_visible()
        if config is None:
            config = RunConfig()
        elif not isinstance(config, RunConfig):
            raise ValueError(message("config must be an est.RunConfig", fix="Pass est.RunConfig(...)",
                                     config=type(config).__name__))
        self._params = copy.deepcopy(params)
        model_dir = _resolve_model_dir(model_dir, config)
        self._config = config.replace(model_dir=model_dir) if config.model_dir != model_dir else config
        self._model_fn = ModelFnCaller(model_fn, self._params, self._config)
        self._device = torch.device(self._config.device or default_device(self._config.cluster.local_rank))
        self._replication = _replication_for(self._config, self._device)
        self._checkpoints = CheckpointManager(model_dir, self._config.keep_checkpoint_max,
                                              self._config.keep_checkpoint_every_n_hours,
                                              is_chief=self._config.is_chief, replication=self._replication)
        if isinstance(warm_start_from, (str, os.PathLike)):
            warm_start_from = WarmStartSettings(os.fspath(warm_start_from))
        self._warm_start = warm_start_from
        self._state = self._new_state()
        self._sinks: dict[str, SummarySink] = {}
        self._unsharded_view: Estimator | None = None  # FSDP's predict and export copy
        logger.info("Using config: %r (model_dir=%s, device=%s)", self._config, model_dir, self._device)

    # -- properties ---------------------------------------------------------------------------
    @property
    def model_dir(self) -> str:
        return self._config.model_dir

    @property
    def config(self) -> RunConfig:
        return self._config

    @property
    def params(self) -> dict | None:
        return copy.deepcopy(self._params)

    @property
    def model_fn(self) -> Callable:
        return self._model_fn.model_fn

    # -- public API ---------------------------------------------------------------------------
    def train(self, input_fn: Callable, hooks: Iterable[Any] | None = None, steps: int | None = None,
              max_steps: int | None = None, saving_listeners: Iterable[Any] | None = None) -> Estimator:
        """Trains for ``steps`` more steps, up to global step ``max_steps``, or until the input ends.

        Returns ``self``. ``steps`` is incremental (two ``train(steps=10)`` calls make 20
        steps); ``max_steps`` is absolute and training is skipped when it is already reached.
        """
        if self._config.task_type in (TaskType.EVALUATOR, TaskType.PS):
            raise ValueError(message(f"Train has been called with task_type {self._config.task_type!r}",
                                     expected="a chief or worker task", fix="Run train on training tasks",
                                     task_type=self._config.task_type))
        _check_steps(steps, max_steps)
        if self._replication is not None:
            self._replication.join()
        self._sync_state(None, for_training=True)
        if max_steps is not None and self._state.global_step >= max_steps:
            logger.info("Skipping training since max_steps has already saved (global step %d >= %d).",
                        self._state.global_step, max_steps)
            return self
        last_step = self._state.global_step + steps if steps is not None else max_steps
        hooks, listeners = list(hooks or ()), list(saving_listeners or ())
        # TF attaches saving_listeners to a user-supplied CheckpointSaverHook; here only for this call.
        user_saver = next((hook for hook in hooks if isinstance(hook, CheckpointSaverHook)), None)
        attached = [listener for listener in listeners if user_saver and listener not in user_saver.listeners]
        if user_saver is not None:
            user_saver.listeners.extend(attached)
        hooks = self._training_hooks(hooks, listeners, last_step)
        source = self._call_input_fn(input_fn, ModeKeys.TRAIN)
        self._state.resume_input(source)
        batches = self._iterate(source, repeat_single=True)
        if self._replication is not None:
            batches = _while_every_rank_has_one(batches, self._replication)
        try:
            ran = train_loop(self._state, batches, self._model_fn, hooks, device=self._device, last_step=last_step,
                             autocast=None if self._config.precision == "32" else self._autocast,
                             chief_hooks=self._config.is_chief, check_nan=True)
        finally:
            self._state.release_input()
            for listener in attached:
                user_saver.listeners.remove(listener)
        if ran == 0:
            logger.warning("Training with estimator made no steps. Perhaps input is empty or misspecified.")
        return self

    def evaluate(self, input_fn: Callable, steps: int | None = None, hooks: Iterable[Any] | None = None,
                 checkpoint_path: str | None = None, name: str | None = None) -> dict[str, Any]:
        """Evaluates on ``steps`` batches (all when None) and returns plain Python numbers.

        The result has every metric of ``eval_metric_ops`` plus ``loss`` (mean of per-batch
        losses, TensorFlow's definition), ``average_loss`` (per-example mean) and
        ``global_step``. It is also written to TensorBoard in :meth:`eval_dir`.
        """
        if steps is not None and (not isinstance(steps, int) or steps <= 0):
            raise ValueError(message("Must specify steps > 0", fix="Pass a positive steps, or None for all",
                                     steps=steps))
        if self._replication is not None:
            self._replication.join()
        path = self._sync_state(checkpoint_path, for_training=False)
        if path is None:
            logger.info("Evaluating without a checkpoint: using the weights in memory (fresh if never trained).")
        with self._rng_scope():
            batches = self._batches(input_fn, ModeKeys.EVAL, repeat_single=False)
            results = evaluate_loop(self._state, batches, self._model_fn, list(hooks or ()), device=self._device,
                                    steps=steps, autocast=self._autocast, replication=self._replication)
        if path is not None and checkpoint_step(path) != results["global_step"]:
            path = None  # the weights in memory are newer than any checkpoint: say so, don't misname one
        self._write_eval_summaries(results, name, path)
        logger.info("Saving dict for global step %d: %s", results["global_step"],
                    ", ".join(f"{key} = {value}" for key, value in sorted(results.items())))
        return results

    def predict(self, input_fn: Callable, predict_keys: Sequence[str] | str | None = None,
                hooks: Iterable[Any] | None = None, checkpoint_path: str | None = None,
                yield_single_examples: bool = True) -> Iterator[Any]:
        """Yields predictions (numpy), per example or per batch; a generator.

        ``input_fn`` may yield features alone or ``(features, labels)`` (labels are ignored).
        Several generators can be consumed interleaved.
        """
        if isinstance(predict_keys, str):
            predict_keys = [predict_keys]
        if self._replication is not None and self._replication.sharded:
            return self._unsharded().predict(input_fn, predict_keys, hooks, checkpoint_path, yield_single_examples)
        path = checkpoint_path

        def ensure_weights() -> None:  # per batch: interleaved generators may want other weights
            self._sync_state(path, for_training=False, quiet=True)

        def generate() -> Iterator[Any]:
            ensure_weights()
            with self._rng_scope():
                batches = self._batches(input_fn, ModeKeys.PREDICT, repeat_single=False)
            yield from predict_loop(self._state, batches, self._model_fn, list(hooks or ()), device=self._device,
                                    predict_keys=predict_keys, yield_single_examples=yield_single_examples,
                                    before_batch=ensure_weights, autocast=self._autocast)

        return generate()

    def export_saved_model(self, export_dir_base: str | os.PathLike, serving_input_receiver_fn: Callable[[], Any],
                           assets_extra: dict[str, str] | None = None, checkpoint_path: str | None = None,
                           experimental_mode: str = ModeKeys.PREDICT) -> str | None:
        """Exports the model for serving to ``export_dir_base/<timestamp>/``; returns that path.

        In a cluster only the chief and the evaluator task export; other tasks get None.

        See :func:`torch_estimator.export.writer.export_saved_model` (``torch.export`` program,
        ONNX model, ``signature.json``, ``assets.extra/``; written atomically and verified).
        """
        source = self._unsharded() if self._replication is not None and self._replication.sharded else self
        return export_saved_model(source, export_dir_base, serving_input_receiver_fn, assets_extra=assets_extra,
                                  checkpoint_path=checkpoint_path, experimental_mode=experimental_mode)

    def latest_checkpoint(self) -> str | None:
        """Path of the newest checkpoint in ``model_dir``, or None."""
        return self._checkpoints.latest()

    def get_variable_names(self) -> list[str]:
        """Names of the values in the latest checkpoint (module weights as ``<module>.<param>``)."""
        path = self._require_checkpoint()
        return sorted(key[len("model."):] if key.startswith("model.") else key for key in storage.keys(path))

    def get_variable_value(self, name: str) -> np.ndarray:
        """The value called ``name`` in the latest checkpoint, as a numpy array."""
        path = self._require_checkpoint()
        available = storage.keys(path)
        key = f"model.{name}" if f"model.{name}" in available else name
        if key not in available:
            raise ValueError(message(f"The latest checkpoint has no variable {name!r}",
                                     expected="one of get_variable_names()", fix="Check the name",
                                     name=name, checkpoint=path))
        value = storage.load_objects(path, [key])[key]
        return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)

    def eval_dir(self, name: str | None = None) -> str:
        """``model_dir/eval`` or ``model_dir/eval_<name>``."""
        return os.path.join(self.model_dir, "eval" if not name else f"eval_{name}")

    def close(self) -> None:
        """Flushes and closes the summary writers (also done at interpreter exit)."""
        for sink in self._sinks.values():
            sink.close()

    # -- internals ----------------------------------------------------------------------------
    def _new_state(self) -> TrainState:
        state = TrainState(compile_modules=self._config.compile, replication=self._replication)
        if self._config.precision == "16-mixed":
            state.scaler = torch.amp.GradScaler(self._device.type)
        return state

    def _unsharded(self) -> Estimator:
        """Under FSDP, this Estimator with a single-process copy of the model, for predict and export.

        A sharded module's forward pass needs every rank, but prediction and export run on one
        rank (or on each rank for different inputs). The copy is read from the latest checkpoint
        (or ``checkpoint_path``) with full, unsharded parameters, by this process alone: no
        collective. It is kept, and re-read only when another checkpoint is wanted.

        Raises:
            ValueError: ``model_dir`` has no checkpoint yet.
        """
        if self._checkpoints.latest() is None:
            raise ValueError(message(
                "Predict and export with train_distribute='fsdp' read the model from a checkpoint, and "
                "model_dir has none", expected=f"a checkpoint in {self.model_dir}",
                fix="Train with checkpoints enabled (save_checkpoints_steps or save_checkpoints_secs) first",
                model_dir=self.model_dir))
        view = self._unsharded_view
        if view is None:
            view = copy.copy(self)
            view._replication = None
            view._state = TrainState(compile_modules=self._config.compile)
            self._unsharded_view = view
        return view

    def _sync_state(self, checkpoint_path: str | None, *, for_training: bool, quiet: bool = False) -> str | None:
        """Makes the resident state match ``checkpoint_path`` (default: the latest checkpoint).

        Reads from disk only when the wanted checkpoint is not the one in memory; training
        also continues the RNG stream saved with it.
        """
        state = self._state
        if checkpoint_path is None:
            in_memory = state.checkpoint_path is not None and self._checkpoints.latest() == state.checkpoint_path
            checkpoint_path = state.checkpoint_path if in_memory else self._checkpoints.latest_valid()
            replication = self._replication
            if replication is not None and (for_training or replication.sharded):  # every rank uses the same one
                checkpoint_path = self._replication.broadcast(checkpoint_path, source=0)
        elif checkpoint_path != state.checkpoint_path:
            storage.verify(checkpoint_path)
        if checkpoint_path is None:  # nothing on disk: fresh (or warm-started) weights
            if state.global_step == 0 and state.registry.is_empty:
                state.warm_start = self._warm_start
                if for_training and self._config.tf_random_seed is not None:
                    torch.manual_seed(self._config.tf_random_seed)
            return None
        if checkpoint_path != state.checkpoint_path:
            if not quiet:
                logger.info("Restoring parameters from %s", checkpoint_path)
            state.restore(checkpoint_path, rng=for_training)
        elif for_training and state.rng_checkpoint != checkpoint_path:
            state.restore_rng(checkpoint_path)  # weights were loaded by an evaluate; the RNG was not
        return checkpoint_path

    @contextlib.contextmanager
    def _rng_scope(self) -> Iterator[None]:
        """Evaluation and prediction neither consume nor reset the training RNG stream."""
        devices = [self._device] if self._device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if self._config.tf_random_seed is not None:
                torch.manual_seed(self._config.tf_random_seed)
            yield

    def _autocast(self) -> contextlib.AbstractContextManager:
        precision = self._config.precision
        if precision == "32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
        return torch.autocast(self._device.type, dtype=dtype)

    def _call_input_fn(self, input_fn: Callable, mode: str) -> Any:
        cluster = self._config.cluster
        context = InputContext(cluster.world_size, cluster.rank, cluster.world_size)
        return call_input_fn(input_fn, mode, self.params, self._config, context)

    def _batches(self, input_fn: Callable, mode: str, *, repeat_single: bool) -> Iterator[tuple[Any, Any]]:
        return self._iterate(self._call_input_fn(input_fn, mode), repeat_single=repeat_single)

    def _iterate(self, source: Any, *, repeat_single: bool) -> Iterator[tuple[Any, Any]]:
        # A model_fn marked lazy_features = True (the canned estimators') reads features through
        # Python's dict methods only, so it may get LazyFeatures (see loops/batches.py).
        return iterate_batches(source, repeat_single=repeat_single, device=self._device,
                               lazy_features=getattr(self._model_fn.model_fn, "lazy_features", False) is True)

    def _sink(self, directory: str) -> SummarySink:
        sink = self._sinks.get(directory)
        if sink is None:
            sink = self._sinks[directory] = SummarySink(directory, is_chief=self._writes_results)
        return sink

    def _training_hooks(self, hooks: list[Any], listeners: list[Any], last_step: int | None) -> list[Any]:
        config = self._config
        use_bar = stdio_is_terminal() if config.progress_bar is None else config.progress_bar
        # TF's defaults, less NanTensorHook("loss"): train_loop(check_nan=True) does its check.
        defaults: list[Any] = [
            ProgressHook(config.log_step_count_steps, last_step=last_step,
                         use_bar=use_bar and logger.isEnabledFor(logging.INFO)),
            StepCounterHook(config.log_step_count_steps, summary_writer=self._sink(self.model_dir), log=False),
        ]
        if config.save_summary_steps:
            defaults.append(SummarySaverHook(save_steps=config.save_summary_steps,
                                             summary_writer=self._sink(self.model_dir)))
        if any(isinstance(hook, CheckpointSaverHook) for hook in hooks):
            pass  # the user's saver replaces the default one (train() attached the listeners to it)
        elif config.save_checkpoints_steps or config.save_checkpoints_secs:
            timer = None if self._replication is None else agreed_timer(
                self._replication, config.save_checkpoints_secs, config.save_checkpoints_steps)
            defaults.append(CheckpointSaverHook(self.model_dir, save_secs=config.save_checkpoints_secs,
                                                save_steps=config.save_checkpoints_steps,
                                                saver=self._checkpoints, listeners=listeners, timer=timer))
        elif listeners:
            raise ValueError(message("There should be a CheckpointSaverHook to use saving_listeners",
                                     expected="checkpoints enabled (save_checkpoints_steps or _secs)",
                                     fix="Enable checkpoints in RunConfig, or drop saving_listeners",
                                     saving_listeners=listeners))
        return defaults + hooks

    def _write_eval_summaries(self, results: dict[str, Any], name: str | None, checkpoint: str | None) -> None:
        sink = self._sink(self.eval_dir(name))
        step = results["global_step"]
        for key, value in results.items():
            if key != "global_step" and isinstance(value, (int, float)):
                sink.scalar(key, value, step)
        if checkpoint:
            sink.text("checkpoint_path", checkpoint, step)
        sink.flush()
        if self._writes_results:
            append_eval_result(self.eval_dir(name), results, checkpoint)

    @property
    def _writes_results(self) -> bool:
        """The chief writes summaries and evaluation results; so does the evaluator task (its own)."""
        return self._config.is_chief or self._config.task_type == TaskType.EVALUATOR

    def _require_checkpoint(self) -> str:
        path = self._checkpoints.latest_valid()
        if path is None:
            raise ValueError(message("Couldn't find trained model", expected=f"a checkpoint in {self.model_dir}",
                                     fix="Train the estimator first", model_dir=self.model_dir))
        return path


def _replication_for(config: RunConfig, device: torch.device) -> Replication | None:
    """The training processes when there are several and this is one of them, else None (one
    process runs nothing distributed). The process group is joined by the first train/evaluate."""
    cluster = config.cluster
    if cluster.world_size <= 1 or cluster.task_type in (TaskType.EVALUATOR, TaskType.PS):
        return None
    return Replication(cluster, device, config.train_distribute)


def _while_every_rank_has_one(batches: Iterator[Any], replication: Replication) -> Iterator[Any]:
    """Ends the training input on every rank when one rank's input ends (shards can differ by a
    batch); otherwise the other ranks would wait forever in the next gradient all-reduce."""
    for batch in batches:
        if not replication.all_have(True):
            return
        yield batch
    replication.all_have(False)


def _check_steps(steps: Any, max_steps: Any) -> None:
    if steps is not None and max_steps is not None:
        raise ValueError(message("Can not provide both steps and max_steps", fix="Pass one of them",
                                 steps=steps, max_steps=max_steps))
    for name, value in (("steps", steps), ("max_steps", max_steps)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise ValueError(message(f"Must specify {name} > 0", expected="a positive int or None",
                                     fix=f"Pass a positive {name}", **{name: value}))


def _resolve_model_dir(model_dir: Any, config: RunConfig) -> str:
    if model_dir is not None:
        model_dir = os.fspath(model_dir)
        if model_dir == "":
            raise ValueError(message("model_dir should be non-empty", fix="Pass a path, or None for a temporary "
                                     "directory", model_dir=model_dir))
    tf_config_dir = config.cluster.model_dir
    candidates = {d for d in (model_dir, config.model_dir, tf_config_dir) if d is not None}
    if len({os.path.abspath(d) for d in candidates}) > 1:
        raise ValueError(message("model_dir are set both in constructor and RunConfig, but with different values",
                                 expected="the same directory everywhere (or set it in one place)",
                                 fix="Pass model_dir to only one of Estimator, RunConfig and TF_CONFIG",
                                 model_dir=model_dir, config_model_dir=config.model_dir,
                                 tf_config_model_dir=tf_config_dir))
    resolved = model_dir or config.model_dir or tf_config_dir
    if resolved is None:
        resolved = tempfile.mkdtemp()
        logger.warning("Using temporary folder as model directory: %s", resolved)
    _check_writable(resolved)
    return resolved


def _check_writable(directory: str) -> None:
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-"):
            pass
    except OSError as error:
        raise ValueError(message("model_dir is not writable", expected="a directory this process can create "
                                 "and write", fix="Choose another model_dir or fix its permissions",
                                 model_dir=directory, error=f"{type(error).__name__}: {error.strerror}")) from error
