"""``tune``: an Optuna study whose trials are training runs, scored by their evaluation metric.

Each trial gets ``<output_dir>/<trial_id>`` as its ``model_dir`` and runs in a child process
(:mod:`torch_estimator.tuning.trainer`). While it trains, the tuner tails the evaluation log
that ``Estimator.evaluate`` appends to (``model_dir/eval/eval_results.jsonl``), reports each
evaluation's metric to Optuna at its global step, and ends the process when the pruner says
the trial is unpromising. The trial's value is its last evaluation's metric.

Up to ``max_parallel_trials`` threads each drive one child process at a time. The study counts
every trial started, over all runs and machines that share its storage, towards
``max_trials`` (a tuner counts and starts a trial under the study's lock,
:mod:`torch_estimator.tuning.lock`, so that tuners counting at once do not overshoot it); a
trial interrupted by the end of its tuner (Ctrl-C, a crash, a lost machine) is marked failed
and retried with the same parameters and ``model_dir`` (so its trainer resumes from its last
checkpoint) by the next tuner, and does not count twice.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch_estimator.errors import message
from torch_estimator.summary.eval_log import read_eval_results
from torch_estimator.tuning import report
from torch_estimator.tuning.lock import StudyLock, study_lock
from torch_estimator.tuning.result import TuningResult, sort_trials, trial_result
from torch_estimator.tuning.space import HyperparameterSpec, ParameterSpec, parameter_from_mapping, suggest
from torch_estimator.tuning.storage import HEARTBEAT_SECONDS, MAX_RETRIES, open_storage
from torch_estimator.tuning.trainer import Launcher, TrialProcess, function_launcher, log_tail

logger = logging.getLogger("torch_estimator")

_HOST = socket.gethostname()


def tune(trial_fn: Callable[[dict, str], Any], space: Sequence[ParameterSpec | Mapping[str, Any]], *,
         output_dir: str, metric: str = "rmse", goal: str = "MINIMIZE", max_trials: int = 10,
         max_parallel_trials: int = 1, storage: Any = None, study_name: str | None = None, pruner: Any = None,
         sampler: Any = None, eval_name: str | None = None, poll_seconds: float = 0.5) -> TuningResult:
    """Tunes the parameters of ``trial_fn`` for the best evaluation ``metric``.

    Args:
        trial_fn: ``trial_fn(params, model_dir)``: builds an Estimator in ``model_dir`` with
            ``params`` and runs ``est.train_and_evaluate``. Each trial runs it in a child
            process (so that pruning can stop it), so it must be a module-level function.
        space: The parameters: :class:`ParameterSpec` objects or AI Platform ``params`` entries
            (``{"parameterName": "lr", "type": "DOUBLE", "minValue": 1e-3, "maxValue": 0.1,
            "scaleType": "UNIT_LOG_SCALE"}``).
        output_dir: Trials' model directories (``<output_dir>/<trial_id>``), their logs
            (``logs/``), the study journal and the summary.
        metric: The evaluation metric to optimize (a key of ``Estimator.evaluate``'s results).
        goal: ``MINIMIZE`` or ``MAXIMIZE``.
        max_trials: Trials in the study in all (a resumed study runs only the rest).
        max_parallel_trials: Trials run at once.
        storage: None (a journal file in ``output_dir``), a journal path, a database URL
            (``postgresql://...``: one study shared by many machines) or an Optuna storage.
            Tuners sharing a journal file or database never start more than ``max_trials``
            between them; tuners sharing a storage object other than an ``RDBStorage`` are
            kept from that only within one process (see :mod:`torch_estimator.tuning.lock`).
        study_name: Defaults to the output directory's name.
        pruner: An Optuna pruner; default ``MedianPruner()``.
        sampler: An Optuna sampler; default ``TPESampler()``.
        eval_name: ``EvalSpec.name`` of the evaluations to read (``model_dir/eval_<name>``).
        poll_seconds: How often a running trial's evaluation log is read.

    Returns:
        A :class:`TuningResult`: every trial, and the best one's parameters, metric and export.

    Raises:
        ImportError: Optuna is not installed (``pip install torch-estimator[tuning]``).
        ValueError: an invalid space or goal; the study in ``storage`` was made for another
            metric, goal or space; no trial completed (the message says why the first failed).
        TypeError: ``trial_fn`` is not a picklable function.
    """
    params = tuple(p if isinstance(p, ParameterSpec) else parameter_from_mapping(p) for p in space)
    spec = HyperparameterSpec(params, metric, goal, max_trials, max_parallel_trials)
    return run_study(spec, function_launcher(trial_fn), output_dir, storage=storage, study_name=study_name,
                     pruner=pruner, sampler=sampler, eval_name=eval_name, poll_seconds=poll_seconds)


def run_study(spec: HyperparameterSpec, launch: Launcher, output_dir: str, *, storage: Any = None,
              study_name: str | None = None, pruner: Any = None, sampler: Any = None, eval_name: str | None = None,
              poll_seconds: float = 0.5) -> TuningResult:
    """Runs (or resumes) the study of ``spec`` with trials started by ``launch``; see :func:`tune`."""
    optuna = import_optuna()
    output_dir = os.path.abspath(output_dir)
    os.makedirs(os.path.join(output_dir, "logs"), exist_ok=True)
    storage, location = open_storage(storage, output_dir)
    if pruner is None:
        pruner = optuna.pruners.MedianPruner() if spec.early_stopping else optuna.pruners.NopPruner()
    study_name = study_name or os.path.basename(output_dir)
    lock = study_lock(storage, location, study_name)
    with lock:  # tuners starting together on a new study: the first stores the spec, the others check it
        study = optuna.create_study(storage=storage, study_name=study_name, direction=spec.goal.lower(),
                                    sampler=sampler, pruner=pruner, load_if_exists=True)
        _check_same_study(study, spec, location)
    tuner = _Tuner(study, storage, spec, launch, output_dir, eval_name, poll_seconds, lock)
    tuner.run()
    trials = sort_trials([trial_result(t) for t in study.get_trials(deepcopy=False) if not tuner.retried(t)],
                         spec.goal)
    completed = [t for t in trials if t.state == "COMPLETE"]
    result = TuningResult(study.study_name, location, spec.metric_tag, spec.goal, trials,
                          completed[0] if completed else None)
    files = report.write_summary(result, study, output_dir)
    if not completed and not any(t.state in ("RUNNING", "WAITING") for t in trials):  # else: running elsewhere
        failures = [t for t in trials if t.failure]
        raise ValueError(message("No trial completed", expected=f"at least one trial reporting {spec.metric_tag!r}",
                                 fix="See the trials' logs in " + os.path.join(output_dir, "logs"),
                                 first_failure=failures[0].failure if failures else None))
    return dataclasses.replace(result, summary_files=files)


def import_optuna() -> Any:
    """Imports Optuna, or says how to install it."""
    try:
        import optuna
    except ImportError as error:
        raise ImportError(message("Hyperparameter tuning needs Optuna", expected="the tuning extra",
                                  fix="pip install torch-estimator[tuning]", module="optuna")) from error
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the tuner logs each trial itself
    return optuna


class _Tuner:
    """The trial loop of one tuner process: ``max_parallel_trials`` threads ask, run and tell."""

    def __init__(self, study: Any, storage: Any, spec: HyperparameterSpec, launch: Launcher, output_dir: str,
                 eval_name: str | None, poll_seconds: float, lock: StudyLock) -> None:
        import optuna

        self._optuna, self._study, self._storage, self._spec = optuna, study, storage, spec
        self._launch, self._output_dir, self._poll_seconds = launch, output_dir, poll_seconds
        self._eval_dir = "eval" if not eval_name else f"eval_{eval_name}"
        self._lock = lock
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._heartbeat = bool(getattr(storage, "heartbeat_interval", None))

    def run(self) -> None:
        self._recover_interrupted()
        # Completion is signalled by events, not Thread.join: a join interrupted by Ctrl-C can
        # leave the thread looking finished while it still runs.
        finished = [threading.Event() for _ in range(self._spec.max_parallel_trials)]
        for i, event in enumerate(finished):
            threading.Thread(target=self._work, args=(event,), name=f"trial-runner-{i}", daemon=True).start()
        try:
            for event in finished:
                while not event.wait(0.2):  # a timed wait lets Ctrl-C through
                    pass
        except KeyboardInterrupt:
            self._stop.set()  # each thread stops its trial and records it as interrupted
            for event in finished:
                event.wait()
            raise
        if self._errors:
            raise self._errors[0]

    def retried(self, frozen: Any) -> bool:
        """Whether ``frozen`` failed by interruption and a later trial retries it."""
        return frozen.number in self._retried_numbers()

    def _retried_numbers(self) -> set[int]:
        return {n for t in self._study.get_trials(deepcopy=False) for n in t.system_attrs.get("retry_history", [])}

    def _work(self, finished: threading.Event) -> None:
        try:
            while not self._stop.is_set():
                started = self._start_trial()
                if started is None:
                    return
                self._run_trial(*started)
        except BaseException as error:  # surfaced by run(); a dead thread would just stop the study
            self._errors.append(error)
            self._stop.set()
        finally:
            finished.set()

    def _start_trial(self) -> tuple[Any, str] | None:
        """Asks for the next trial and its id; None when the study has ``max_trials`` or the tuner stops."""
        # Count and ask as one step under the study's lock, or tuners (threads, processes,
        # machines) that count at the same moment overshoot max_trials.
        if not self._lock.acquire(cancel=self._stop):
            return None
        try:
            if self._count_started() >= self._spec.max_trials:
                return None
            with warnings.catch_warnings():
                # Optuna warns that heartbeats are meant for Study.optimize; _watch records them.
                warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
                trial = self._study.ask()
        finally:
            self._lock.release()
        trial_id = str(trial.user_attrs.get("trial_id", trial.number + 1))  # a retry keeps its id
        trial.set_user_attr("trial_id", trial_id)
        trial.set_user_attr("owner", {"host": _HOST, "pid": os.getpid()})
        return trial, trial_id

    def _count_started(self) -> int:
        """Trials started in the study, by any tuner; a retried trial counts once (as its retry)."""
        trials = self._study.get_trials(deepcopy=False)
        retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
        return sum(1 for t in trials if t.state.name != "WAITING" and t.number not in retried)

    def _run_trial(self, trial: Any, trial_id: str) -> None:
        params = suggest(trial, self._spec.params)
        model_dir = os.path.join(self._output_dir, trial_id)
        trial.set_user_attr("model_dir", model_dir)
        log_path = os.path.join(self._output_dir, "logs", f"{trial_id}.log")
        logger.info("Trial %s started: %s", trial_id, params)
        process = self._launch(params, trial_id, model_dir, log_path)
        try:
            outcome = self._watch(trial, process, model_dir)
        except BaseException:
            process.stop()
            raise
        metric = self._spec.metric_tag
        if outcome == "stopped":
            self._fail(trial, trial_id, "interrupted: the tuner stopped", interrupted=True)
        elif outcome == "pruned":
            self._study.tell(trial, state=self._optuna.trial.TrialState.PRUNED)
            logger.info("Trial %s pruned at step %s.", trial_id, max(self._reported(model_dir), default=None))
        elif outcome != 0:
            self._fail(trial, trial_id, message(
                f"Trial {trial_id} crashed", expected="the trainer to exit with status 0",
                fix=f"See its log {log_path}", exit_status=outcome) + _tail_of(log_path))
        else:
            values = self._reported(model_dir)
            if not values:
                self._fail(trial, trial_id, self._missing_metric(trial_id, model_dir))
            else:
                value = values[max(values)]
                self._study.tell(trial, value)
                logger.info("Trial %s finished: %s=%s", trial_id, metric, value)

    def _watch(self, trial: Any, process: TrialProcess, model_dir: str) -> Any:
        """Reports evaluations until the trial ends; its exit status, or ``pruned`` or ``stopped``."""
        reported: set[int] = set()
        last_heartbeat = -math.inf
        while True:
            status = process.poll()  # before reading, so that the last evaluations are read after an exit
            for step, value in sorted(self._reported(model_dir).items()):
                if step not in reported:
                    reported.add(step)
                    trial.report(value, step)
                    if trial.should_prune():
                        process.stop()
                        return "pruned"
            if self._stop.is_set():  # first: Ctrl-C in a terminal also ends function trials, with an error
                process.stop()
                return "stopped"
            if status is not None:
                return status
            if self._heartbeat and time.monotonic() - last_heartbeat >= HEARTBEAT_SECONDS:
                self._storage.record_heartbeat(trial._trial_id)  # Optuna's own heartbeat thread does the same
                last_heartbeat = time.monotonic()
            process.wait(self._poll_seconds)  # returns at once when the trial ends

    def _reported(self, model_dir: str) -> dict[int, float]:
        """Global step -> metric, for every evaluation so far that has a finite metric."""
        values = {}
        for record in read_eval_results(os.path.join(model_dir, self._eval_dir)):
            results = record.get("results", {})
            value = results.get(self._spec.metric_tag)
            if isinstance(value, (int, float)) and math.isfinite(value):
                values[int(results.get("global_step", len(values)))] = float(value)
        return values

    def _missing_metric(self, trial_id: str, model_dir: str) -> str:
        """Why a trial that exited normally has no value."""
        metric, log = self._spec.metric_tag, os.path.join(model_dir, self._eval_dir, "eval_results.jsonl")
        records = read_eval_results(os.path.dirname(log))
        names = sorted({name for record in records for name in record.get("results", {})})
        if metric in names:
            return message(f"Trial {trial_id} reported only non-finite values of {metric!r}",
                           expected="a finite metric", fix="Lower the learning rate or check the data",
                           values=[record["results"].get(metric) for record in records])
        return message(f"Trial {trial_id} never reported the metric {metric!r}",
                       expected=f"evaluation results with {metric!r} in {log}",
                       fix="Write the trial's model_dir as <output_dir>/<TF_CONFIG trial id> and add the metric to "
                           "the evaluation (eval_metric_ops or est.add_metrics)", reported=names)

    def _fail(self, trial: Any, trial_id: str, failure: str, interrupted: bool = False) -> None:
        trial.set_user_attr("failure", failure)
        self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
        if interrupted:
            self._retry(self._study.get_trials(deepcopy=False)[trial.number])
        logger.warning("Trial %s failed: %s", trial_id, failure)

    def _retry(self, frozen: Any) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self._optuna.exceptions.ExperimentalWarning)
            self._optuna.storages.RetryHeartbeatStaleTrialCallback(MAX_RETRIES)(self._study, frozen)

    def _recover_interrupted(self) -> None:
        """Fails and retries trials left RUNNING by a tuner that is gone (its process, or its heartbeat)."""
        if self._heartbeat:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", self._optuna.exceptions.ExperimentalWarning)
                self._optuna.storages.fail_stale_trials(self._study)  # by heartbeat; the storage retries them
        for frozen in self._study.get_trials(deepcopy=False, states=(self._optuna.trial.TrialState.RUNNING,)):
            owner = frozen.user_attrs.get("owner") or {}
            if owner.get("host") == _HOST and not _alive(owner.get("pid")):
                # FrozenTrial has no public id; storages address trials by it.
                self._storage.set_trial_user_attr(frozen._trial_id, "failure", "interrupted: its tuner ended")
                if self._storage.set_trial_state_values(frozen._trial_id, self._optuna.trial.TrialState.FAIL):
                    self._retry(self._study.get_trials(deepcopy=False)[frozen.number])


def _check_same_study(study: Any, spec: HyperparameterSpec, location: str) -> None:
    """Stores the spec on a new study; refuses to resume one made for another spec."""
    import dataclasses

    wanted = {"metric": spec.metric_tag, "goal": spec.goal,
              "params": [dataclasses.asdict(p) | {"values": list(p.values)} for p in spec.params]}
    stored = {key: study.user_attrs[key] for key in wanted if key in study.user_attrs}
    if not stored:
        for key, value in wanted.items():
            study.set_user_attr(key, value)
    elif stored != wanted:
        raise ValueError(message(
            f"The study {study.study_name!r} in {location} was made for another metric, goal or space",
            expected=f"{wanted}", fix="Use a new output directory or study_name, or the study's own spec",
            stored=stored))


def _tail_of(log_path: str) -> str:
    tail = log_tail(log_path)
    return f"\nLast lines of the log:\n{tail}" if tail else ""


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
