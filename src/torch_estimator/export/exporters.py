"""Exporters: which evaluated models ``train_and_evaluate`` exports, and how many it keeps.

After each evaluation, ``train_and_evaluate`` calls every exporter of the ``EvalSpec`` with the
evaluated checkpoint and its metrics; an exporter decides whether to export, writes
``model_dir/export/<name>/<timestamp>/`` through ``Estimator.export_saved_model`` and
garbage-collects old exports. TensorFlow's three are here with their names and defaults:

* :class:`LatestExporter` exports after every evaluation and keeps the newest N.
* :class:`BestExporter` exports when ``compare_fn`` says the new result beats the best so far.
  Unlike TensorFlow's, it remembers the best result in ``best_eval_result.json`` beside its
  exports, so a restarted job never exports a worse model (tensorflow/tensorflow#47396), and
  the first export ever is always made (tensorflow/estimator PR #41).
* :class:`FinalExporter` exports once, after the final evaluation.

Any object with a ``name`` and TensorFlow's ``export(estimator, export_path, checkpoint_path,
eval_result, is_the_final_export)`` method is an exporter (:class:`Exporter`).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from torch_estimator.durable import write_text_atomically
from torch_estimator.errors import message

logger = logging.getLogger("torch_estimator")

BEST_RESULT_FILENAME = "best_eval_result.json"
# Servers (TF Serving, ours) load 10-digit unix-timestamp directories; only those are collected.
_EXPORT_DIR = re.compile(r"^\d{10}$")
_COMPARE_ARGS = ("best_eval_result", "current_eval_result")


@runtime_checkable
class Exporter(Protocol):
    """The exporter interface (TensorFlow's ``tf.estimator.Exporter``).

    Implement ``name`` (the directory under ``model_dir/export/``) and ``export``; subclassing is
    allowed (code migrated from TensorFlow does) but not needed.
    """

    @property
    def name(self) -> str:
        """Directory name of this exporter's exports, unique within an ``EvalSpec``."""
        ...

    def export(self, estimator: Any, export_path: str, checkpoint_path: str | None,
               eval_result: Mapping[str, Any], is_the_final_export: bool) -> str | None:
        """Exports (or not) the model of ``checkpoint_path``, evaluated as ``eval_result``.

        Args:
            estimator: The Estimator that was evaluated.
            export_path: ``model_dir/export/<name>``: where timestamped exports go.
            checkpoint_path: The evaluated checkpoint.
            eval_result: The evaluation's metrics (plain Python numbers, ``global_step`` too).
            is_the_final_export: Whether this is the last evaluation of the job.

        Returns:
            The new export directory, or None when nothing was exported.
        """
        ...


def check_exporter_name(name: Any) -> str | None:
    """The problem with an exporter ``name``, or None; names become directory names."""
    if not isinstance(name, str) or not name:
        return f"An exporter name must be a non-empty string. Received: name={name!r}."
    if name in (".", "..") or "/" in name or os.sep in name or "\\" in name:
        return (f"An exporter name is a directory name under model_dir/export, so it cannot contain path "
                f"separators or be '.' or '..'. Received: name={name!r}. Use a plain name such as 'best'.")
    return None


class LatestExporter:
    """Exports after every evaluation and keeps the newest ``exports_to_keep`` exports.

    Args:
        name: Directory under ``model_dir/export/``.
        serving_input_receiver_fn: Builds the serving inputs (``est.export``'s receivers).
        assets_extra: ``{destination path in assets.extra/: source file}`` copied into each export.
        exports_to_keep: Exports kept (newest first); ``None`` keeps all.
        as_text: Keyword-only; accepted for TensorFlow compatibility and ignored (exports have
            no text form). Passed positionally in TensorFlow's order it lands on
            ``exports_to_keep`` and is rejected there, rather than silently misread.

    Raises:
        ValueError: ``name`` or ``exports_to_keep`` is invalid.
        TypeError: ``serving_input_receiver_fn`` is not callable.

    Example:
        >>> from torch_estimator.export.exporters import LatestExporter
        >>> exporter = LatestExporter("exporter", lambda: None, exports_to_keep=3)
        >>> exporter.name
        'exporter'
    """

    def __init__(self, name: str, serving_input_receiver_fn: Callable, assets_extra: Mapping[str, str] | None = None,
                 exports_to_keep: int | None = 5, *, as_text: bool = False) -> None:
        _check_arguments(name, serving_input_receiver_fn, exports_to_keep)
        self._name = name
        self._serving_input_receiver_fn = serving_input_receiver_fn
        self._assets_extra = assets_extra
        self._exports_to_keep = exports_to_keep

    @property
    def name(self) -> str:
        return self._name

    def export(self, estimator: Any, export_path: str, checkpoint_path: str | None,
               eval_result: Mapping[str, Any], is_the_final_export: bool) -> str | None:
        path = _export(estimator, export_path, self._serving_input_receiver_fn, self._assets_extra, checkpoint_path)
        if path is not None:  # None: not the exporting task, which alone may delete exports
            collect_garbage(export_path, self._exports_to_keep)
        return path


class FinalExporter:
    """Exports once: after the final evaluation (``is_the_final_export``).

    The final evaluation is the one at ``TrainSpec.max_steps``; a local ``train_and_evaluate``
    also treats its end-of-training evaluation as final (after early stopping, say).

    Args:
        name: Directory under ``model_dir/export/``.
        serving_input_receiver_fn: Builds the serving inputs.
        assets_extra: Extra files copied into the export's ``assets.extra/``.
        as_text: Accepted for TensorFlow compatibility; ignored.

    Example:
        >>> from torch_estimator.export.exporters import FinalExporter
        >>> FinalExporter("final", lambda: None).export(None, "/unused", None, {}, False) is None
        True
    """

    def __init__(self, name: str, serving_input_receiver_fn: Callable, assets_extra: Mapping[str, str] | None = None,
                 *, as_text: bool = False) -> None:
        _check_arguments(name, serving_input_receiver_fn, None)
        self._name = name
        self._serving_input_receiver_fn = serving_input_receiver_fn
        self._assets_extra = assets_extra

    @property
    def name(self) -> str:
        return self._name

    def export(self, estimator: Any, export_path: str, checkpoint_path: str | None,
               eval_result: Mapping[str, Any], is_the_final_export: bool) -> str | None:
        if not is_the_final_export:
            return None
        return _export(estimator, export_path, self._serving_input_receiver_fn, self._assets_extra, checkpoint_path)


class BestExporter:
    """Exports when the evaluation beats the best one exported so far, across restarts.

    ``compare_fn(best_eval_result=..., current_eval_result=...)`` returns True when the current
    result is better; the default prefers the smaller ``loss`` (pass your own to select on, say,
    accuracy: ``lambda best_eval_result, current_eval_result: current_eval_result["accuracy"] >
    best_eval_result["accuracy"]``).

    The best result exported so far is stored in ``<export_path>/best_eval_result.json``
    (written atomically after each export), and read back the first time this exporter sees an
    ``export_path``, so a restarted job (a new process, a new exporter object) compares against
    it instead of exporting unconditionally as TensorFlow did. With no stored result, the first
    evaluation is always exported. The file is written after the export: a crash in between
    leaves an export the file does not know, never a recorded best without its export.

    Args:
        name: Directory under ``model_dir/export/``.
        serving_input_receiver_fn: Builds the serving inputs (required despite TF's None default).
        compare_fn: ``(best_eval_result, current_eval_result) -> bool``; these argument names are
            required, as in TensorFlow, because it is called by keyword.
        assets_extra: Extra files copied into each export's ``assets.extra/``.
        exports_to_keep: Exports kept (newest, which are the best, first); ``None`` keeps all.
        as_text: Accepted for TensorFlow compatibility; ignored.
        event_file_pattern: Accepted for TensorFlow compatibility; ignored (the JSON file above
            replaces re-reading event files).

    Raises:
        ValueError: ``compare_fn`` has other argument names; ``name`` or ``exports_to_keep`` is
            invalid; the stored best result is unreadable.
        TypeError: ``compare_fn`` or ``serving_input_receiver_fn`` is not callable.

    Example:
        >>> from torch_estimator.export.exporters import BestExporter
        >>> def higher_accuracy(best_eval_result, current_eval_result):
        ...     return current_eval_result["accuracy"] > best_eval_result["accuracy"]
        >>> BestExporter("best", lambda: None, compare_fn=higher_accuracy).name
        'best'
    """

    def __init__(self, name: str = "best_exporter", serving_input_receiver_fn: Callable | None = None,
                 compare_fn: Callable[..., bool] | None = None, assets_extra: Mapping[str, str] | None = None,
                 exports_to_keep: int | None = 5, *, as_text: bool = False,
                 event_file_pattern: str | None = None) -> None:
        _check_arguments(name, serving_input_receiver_fn, exports_to_keep)
        compare_fn = _loss_smaller if compare_fn is None else compare_fn
        _check_compare_fn(compare_fn)
        self._name = name
        self._serving_input_receiver_fn = serving_input_receiver_fn
        self._compare_fn = compare_fn
        self._assets_extra = assets_extra
        self._exports_to_keep = exports_to_keep
        self._best: dict[str, Any] | None = None
        self._loaded_from: str | None = None

    @property
    def name(self) -> str:
        return self._name

    def export(self, estimator: Any, export_path: str, checkpoint_path: str | None,
               eval_result: Mapping[str, Any], is_the_final_export: bool) -> str | None:
        if self._loaded_from != export_path:
            self._best = read_best_eval_result(export_path)
            self._loaded_from = export_path
        if self._best is not None and not self._compare_fn(best_eval_result=self._best,
                                                           current_eval_result=dict(eval_result)):
            logger.info("BestExporter %r: not exporting; the result at step %s is not better than the best so far.",
                        self._name, eval_result.get("global_step"))
            return None
        logger.info("BestExporter %r: performing best model export.", self._name)
        path = _export(estimator, export_path, self._serving_input_receiver_fn, self._assets_extra, checkpoint_path)
        if path is not None:  # nothing was written (not the chief): nothing to remember
            self._best = _jsonable(dict(eval_result))
            _write_best(export_path, self._best, path, checkpoint_path)
            collect_garbage(export_path, self._exports_to_keep)
        return path


def read_best_eval_result(export_path: str) -> dict[str, Any] | None:
    """The best result a :class:`BestExporter` exported into ``export_path``, or None.

    Raises:
        ValueError: if the file exists but is not what BestExporter writes.

    Example:
        >>> import tempfile
        >>> read_best_eval_result(tempfile.mkdtemp()) is None
        True
    """
    path = os.path.join(export_path, BEST_RESULT_FILENAME)
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        return dict(record["eval_result"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:  # written atomically: only a person can damage it
        raise ValueError(message("BestExporter cannot read its stored best result",
                                 expected=f'a JSON object {{"eval_result": {{...}}, ...}} in {path}',
                                 fix="Restore the file, or delete it to let the next evaluation become the best",
                                 path=path, error=f"{type(error).__name__}: {error}")) from error


def collect_garbage(export_path: str, exports_to_keep: int | None) -> list[str]:
    """Deletes all but the newest ``exports_to_keep`` timestamped exports; returns those deleted.

    Only 10-digit numeric directory names count (as in TensorFlow); other files and the
    export writer's temporary directories are left alone. ``None`` keeps everything.

    Example:
        >>> import os, tempfile
        >>> base = tempfile.mkdtemp()
        >>> for stamp in ("1700000001", "1700000002", "1700000003", "notes"):
        ...     os.mkdir(os.path.join(base, stamp))
        >>> [os.path.basename(p) for p in collect_garbage(base, 2)]
        ['1700000001']
        >>> sorted(os.listdir(base))
        ['1700000002', '1700000003', 'notes']
    """
    if exports_to_keep is None:
        return []
    try:
        entries = os.listdir(export_path)
    except FileNotFoundError:
        return []
    exports = sorted((int(entry), entry) for entry in entries
                     if _EXPORT_DIR.match(entry) and os.path.isdir(os.path.join(export_path, entry)))
    removed = []
    for _, entry in exports[:max(len(exports) - exports_to_keep, 0)]:
        path = os.path.join(export_path, entry)
        try:
            shutil.rmtree(path)
            removed.append(path)
        except OSError as error:  # a server may hold files open; the next collection retries
            logger.warning("Could not delete old export %s: %s", path, error)
    return removed


def _export(estimator: Any, export_path: str, serving_input_receiver_fn: Callable,
            assets_extra: Mapping[str, str] | None, checkpoint_path: str | None) -> str | None:
    return estimator.export_saved_model(export_path, serving_input_receiver_fn, assets_extra=assets_extra,
                                        checkpoint_path=checkpoint_path)


def _write_best(export_path: str, eval_result: dict[str, Any], export_dir: str, checkpoint_path: str | None) -> None:
    # Temporary name, fsync, rename: a crash leaves the previous best or the new one, never half.
    record = {"eval_result": eval_result, "export_dir": export_dir, "checkpoint_path": checkpoint_path}
    write_text_atomically(os.path.join(export_path, BEST_RESULT_FILENAME), json.dumps(record, indent=1, sort_keys=True))


def _jsonable(value: Any) -> Any:
    """Metrics as JSON stores them (so a restarted job compares what this one compared)."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays, tensors
        return _jsonable(value.tolist())
    if value is None or isinstance(value, (bool, int, float, str)):
        return value  # NaN and infinities included: json writes and reads them back
    return str(value)


def _loss_smaller(best_eval_result: Mapping[str, Any], current_eval_result: Mapping[str, Any]) -> bool:
    """The default ``compare_fn``: True when the current ``loss`` is smaller than the best one."""
    for name, result in (("best_eval_result", best_eval_result), ("current_eval_result", current_eval_result)):
        if not result or "loss" not in result:
            raise ValueError(message(f"BestExporter's default compare_fn needs 'loss' in {name}",
                                     expected="an evaluation result with a 'loss' key",
                                     fix="Pass compare_fn=... comparing a metric your evaluation reports",
                                     **{name: dict(result or {})}))
    return best_eval_result["loss"] > current_eval_result["loss"]


def _check_arguments(name: Any, serving_input_receiver_fn: Any, exports_to_keep: Any) -> None:
    problem = check_exporter_name(name)
    if problem:
        raise ValueError(problem)
    if not callable(serving_input_receiver_fn):
        raise TypeError(message("serving_input_receiver_fn must be callable",
                                expected="a function returning an est.export.ServingInputReceiver",
                                fix="Pass e.g. est.export.build_raw_serving_input_receiver_fn({...})",
                                serving_input_receiver_fn=serving_input_receiver_fn))
    if exports_to_keep is not None and (not isinstance(exports_to_keep, int) or isinstance(exports_to_keep, bool)
                                        or exports_to_keep <= 0):
        raise ValueError(message("exports_to_keep, if provided, must be a positive number",
                                 expected="a positive int, or None to keep every export",
                                 fix="Pass exports_to_keep=5 (the default) or None",
                                 exports_to_keep=exports_to_keep))


def _check_compare_fn(compare_fn: Any) -> None:
    if not callable(compare_fn):
        raise TypeError(message("compare_fn must be callable",
                                expected="a function compare_fn(best_eval_result, current_eval_result) -> bool",
                                fix="Pass a function, or None for the default (smaller loss)",
                                compare_fn=compare_fn))
    try:
        parameters = inspect.signature(compare_fn).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: nothing to check
        return
    named = [p for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    names = {p.name for p in named}
    missing = [arg for arg in _COMPARE_ARGS if arg not in names]
    unexpected = [p.name for p in named if p.name not in _COMPARE_ARGS and p.default is p.empty]
    if missing or unexpected:
        raise ValueError(message(
            "compare_fn must take the arguments best_eval_result and current_eval_result (it is called "
            "with them by keyword, as in TensorFlow)",
            expected="def compare_fn(best_eval_result, current_eval_result) -> bool",
            fix="Rename its arguments to best_eval_result and current_eval_result",
            arguments=[p.name for p in named], missing=missing, unexpected=unexpected))
