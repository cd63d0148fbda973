"""Trial processes: each trial trains in a process of its own, which the tuner can stop.

A trial runs in a child process so that pruning it is simply ending that process (its
checkpoints and exports are written atomically, so nothing half-written is left), a crash
cannot take the tuner down, and trials run in parallel without sharing a GIL or a
``get_module`` registry.

* :class:`CommandTrial` (the CLI): a trainer module, the course's way,
  ``python -m trainer.task --output_dir DIR --name=value ...`` with the trial id in
  ``TF_CONFIG["task"]["trial"]``.
* :class:`FunctionTrial` (the Python API): ``trial_fn(params, model_dir)`` in a
  ``multiprocessing`` child started from a fork server that imported torch_estimator once (a
  trial starts in a fraction of a second instead of re-importing PyTorch; ``spawn`` where there
  is no fork server, or when ``trial_fn`` is defined in the ``__main__`` script). ``trial_fn``
  must therefore be picklable: a module-level function (``functools.partial`` of one works).

Each trial's output (stdout and stderr) goes to a log file; a failed trial's message ends with
the last lines of it.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import pickle
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from torch_estimator.distributed.trial import trial_environment
from torch_estimator.errors import message

_STOP_GRACE_SECONDS = 5.0
_LOG_TAIL_LINES = 15


class TrialProcess(Protocol):
    """A running trial."""

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""

    def wait(self, timeout: float) -> None:
        """Returns when the trial ends or after ``timeout`` seconds."""

    def stop(self) -> None:
        """Ends the trial (pruned or interrupted) and waits for it."""


Launcher = Callable[[Mapping[str, Any], str, str, str], TrialProcess]
"""``launch(params, trial_id, model_dir, log_path)`` starts one trial."""


def command_launcher(command: Sequence[str], cwd: str | None = None) -> Launcher:
    """Starts ``command --name=value ...`` per trial, with the trial id in ``TF_CONFIG``.

    Example:
        >>> launch = command_launcher(["python", "-m", "trainer.task", "--output_dir", "out"])
        >>> CommandTrial.arguments(["python", "-m", "trainer.task"], {"batch_size": 8, "learning_rate": 0.01})
        ['python', '-m', 'trainer.task', '--batch_size=8', '--learning_rate=0.01']
    """
    if not command:
        raise ValueError(message("No trainer command", expected="a command after --, e.g. "
                                 "-- python -m trainer.task --output_dir DIR", fix="Add the trainer command",
                                 command=list(command)))
    return lambda params, trial_id, model_dir, log_path: CommandTrial(command, params, trial_id, log_path, cwd)


def function_launcher(trial_fn: Callable[[dict, str], Any]) -> Launcher:
    """Runs ``trial_fn(params, model_dir)`` in a child process per trial.

    Raises:
        TypeError: ``trial_fn`` is not callable, or cannot be pickled to a child process.
    """
    if not callable(trial_fn):
        raise TypeError(message("trial_fn must be callable", expected="a function trial_fn(params, model_dir)",
                                fix="Pass a function", trial_fn=trial_fn))
    try:
        pickled = pickle.dumps(trial_fn)
    except Exception as error:  # pickle raises several types (PicklingError, AttributeError, TypeError)
        raise TypeError(message(
            "trial_fn must be picklable: each trial runs in a process of its own",
            expected="a module-level function (not a lambda, closure or method of a local object)",
            fix="Define trial_fn at the top level of a module; pass data through params or files",
            trial_fn=trial_fn)) from error
    method = "spawn" if getattr(trial_fn, "__module__", None) == "__main__" else None
    return lambda params, trial_id, model_dir, log_path: FunctionTrial(pickled, params, model_dir, log_path, method)


class CommandTrial:
    """A trainer command in its own session (so that stopping it ends its children too)."""

    def __init__(self, command: Sequence[str], params: Mapping[str, Any], trial_id: str, log_path: str,
                 cwd: str | None = None) -> None:
        with open(log_path, "ab") as log:
            self._process = subprocess.Popen(self.arguments(command, params), cwd=cwd, stdout=log,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             env=trial_environment(trial_id), start_new_session=True)

    @staticmethod
    def arguments(command: Sequence[str], params: Mapping[str, Any]) -> list[str]:
        """``command`` followed by ``--name=value`` for each parameter."""
        return [*command, *(f"--{name}={value}" for name, value in params.items())]

    def poll(self) -> int | None:
        return self._process.poll()

    def wait(self, timeout: float) -> None:
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def stop(self) -> None:
        if self._process.poll() is not None:
            return
        _signal_group(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(self._process.pid, signal.SIGKILL)
            self._process.wait()


class FunctionTrial:
    """``trial_fn(params, model_dir)`` in a ``multiprocessing`` child.

    ``trial_fn`` travels pickled and is loaded in the child after it took this process's
    ``sys.path`` (a fork server keeps the one it started with). A function of ``__main__`` needs
    ``spawn`` (``start_method``), which re-imports the main script in the child.
    """

    def __init__(self, pickled_fn: bytes, params: Mapping[str, Any], model_dir: str, log_path: str,
                 start_method: str | None = None) -> None:
        import sys

        context = multiprocessing.get_context("spawn") if start_method == "spawn" else _context()
        self._process = context.Process(target=_run_function, daemon=True,
                                        args=(pickled_fn, dict(params), model_dir, log_path, list(sys.path)))
        self._process.start()

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float) -> None:
        self._process.join(timeout)

    def stop(self) -> None:
        if self._process.exitcode is not None:
            return
        self._process.terminate()
        self._process.join(_STOP_GRACE_SECONDS)
        if self._process.exitcode is None:
            self._process.kill()
            self._process.join()


def log_tail(log_path: str, lines: int = _LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a trial's log ('' if there is none)."""
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            return "".join(collections.deque(f, maxlen=lines)).rstrip()
    except FileNotFoundError:
        return ""


def _run_function(pickled_fn: bytes, params: dict, model_dir: str, log_path: str, sys_path: list[str]) -> None:
    """The child's body: output to the trial's log, the parent's import path, then the trial."""
    import sys

    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.path[:] = sys_path
    # An uncaught exception is printed (to the log) by multiprocessing, and the exit code is 1.
    pickle.loads(pickled_fn)(params, model_dir)


def _context() -> Any:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["torch_estimator"])  # a no-op once the server runs
        return context
    return multiprocessing.get_context("spawn")


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass  # it ended meanwhile
