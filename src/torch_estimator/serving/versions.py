"""Version discovery: each model serves the newest loadable numbered directory of its base path.

``export_saved_model`` writes ``<base>/temp-<timestamp>/`` and renames it to
``<base>/<timestamp>/`` only once it is complete and verified, so a numbered directory is a
whole export; ``temp-*`` and other names are ignored. A :class:`VersionWatcher` polls every
base path (TensorFlow Serving's ``file_system_poll_wait_seconds``, default 1 s) in a
background thread; a new version is loaded and warmed there, then swapped in atomically
(see ``registry``). A version that fails to load is logged and skipped, and the current one
keeps serving; it is retried only if its directory changes. When the newest version
disappears, the next newest is served, as TensorFlow Serving does.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

from torch_estimator.serving.config import ModelConfig
from torch_estimator.serving.registry import ModelRegistry

logger = logging.getLogger("torch_estimator.serving")
_VERSION = re.compile(r"^[0-9]{1,18}$")  # fits an int64, as TensorFlow Serving's versions


def list_versions(base_path: str) -> dict[int, str]:
    """Version number -> directory, for the numbered directories directly under ``base_path``.

    Raises:
        OSError: ``base_path`` cannot be listed.

    Example:
        >>> import os, tempfile
        >>> base = tempfile.mkdtemp()
        >>> for name in ("1700000000", "1700000005", "temp-1700000009", "notes"):
        ...     os.mkdir(os.path.join(base, name))
        >>> sorted(list_versions(base))
        [1700000000, 1700000005]
    """
    versions = {}
    with os.scandir(base_path) as entries:
        for entry in entries:
            if _VERSION.match(entry.name) and entry.is_dir():
                versions[int(entry.name)] = entry.path
    return versions


class VersionWatcher:
    """Keeps every model of a registry on its newest loadable version.

    Args:
        registry: Where servables are loaded and installed.
        poll_wait_seconds: Seconds between polls of the base paths (0: never poll; call
            :meth:`poll` yourself).
    """

    def __init__(self, registry: ModelRegistry, poll_wait_seconds: float) -> None:
        self.registry = registry
        self.poll_wait_seconds = poll_wait_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._notes: dict[str, str] = {}  # model -> the last problem logged, so each is logged once

    def poll(self) -> None:
        """One pass over every model: load and switch to its newest loadable version."""
        for model in self.registry.models:
            try:
                self._poll_model(model)
            except Exception:  # the watcher must outlive any surprise; the old version keeps serving
                logger.exception("Checking model %r for new versions failed.", model.name)

    def start(self) -> None:
        """Polls in a daemon thread until :meth:`stop`."""
        if self.poll_wait_seconds <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="torch-estimator-version-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stops polling; waits for a load in progress to end (up to ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_wait_seconds):
            self.poll()

    def _poll_model(self, model: ModelConfig) -> None:
        try:
            on_disk = list_versions(model.base_path)
        except OSError as error:
            self._note_once(model, logging.ERROR, f"Cannot list versions of model {model.name!r} under "
                                                  f"{model.base_path}: {type(error).__name__}: {error}")
            return
        current = self.registry.current_version(model.name)
        for version in sorted(on_disk, reverse=True):
            if version == current or self._stop.is_set():
                return
            path = on_disk[version]
            fingerprint = _fingerprint(path)
            if fingerprint == self.registry.failed(model.name, version):
                continue  # failed before and unchanged since
            try:
                servable = self.registry.load(model, version, path)
            except Exception as error:
                logger.error("Failed to load version %d of model %r from %s; %s. %s: %s", version, model.name,
                             path, "keeping no version loaded" if current is None else
                             f"still serving version {current}", type(error).__name__, error)
                self.registry.record_failure(model.name, version, fingerprint, error)
                continue
            self.registry.install(servable)
            self._notes.pop(model.name, None)
            return
        if current is None and not self._stop.is_set():
            self._note_once(model, logging.WARNING,
                            f"No versions of servable {model.name!r} found under base path {model.base_path}.")

    def _note_once(self, model: ModelConfig, level: int, text: str) -> None:
        """Logs a standing problem when it first appears, not on every poll."""
        if self._notes.get(model.name) != text:
            logger.log(level, "%s", text)
            self._notes[model.name] = text


def _fingerprint(path: str) -> Any:
    """What changes when a version directory's files change (names, sizes, times)."""
    try:
        with os.scandir(path) as entries:
            return tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries))
    except OSError as error:
        return str(error)
