"""The study lock: makes a tuner's "count the started trials, then ask for one" atomic across tuners.

``max_trials`` counts every trial started in a study, by every tuner sharing its storage. Two
tuners that both count 3 of 4 and then both ask would start a fifth, so each tuner takes this
lock around its count and its ``study.ask()`` (and nothing else: never while a trial runs).
Which lock depends on where the study lives:

* a journal file: ``fcntl.flock`` on ``<journal>.tuners.lock`` beside it (Optuna's own
  ``<journal>.lock`` guards single writes, not a count followed by a write);
* SQLite: ``flock`` on ``<database file>.tuners.lock`` (an in-memory database is one process's);
* PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) keyed by the database and study
  name, on a connection of the storage's own engine; MySQL: ``GET_LOCK``/``RELEASE_LOCK``;
* any other storage object (a ``JournalStorage`` or ``InMemoryStorage`` built by the caller, or
  an RDBStorage of another database): a lock of this process only, shared by the tuners of this
  process that use the same object. Tuners in other processes are not excluded: they may
  overshoot ``max_trials`` when they start trials at the same moment.

All of these are released by the operating system or the database server when the process or
its connection dies, so a crashed tuner cannot block the others. Lock files are empty and never
removed (removing one lets two tuners lock different files of the same name).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
import weakref
from typing import Any, Protocol

from torch_estimator.errors import message

LOCK_SUFFIX = ".tuners.lock"
TIMEOUT_SECONDS = 300.0
_FIRST_POLL_SECONDS, _LAST_POLL_SECONDS = 0.002, 0.1
_OBJECT_GUARDS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_OBJECT_GUARDS_LOCK = threading.Lock()


class _CrossProcessLock(Protocol):
    """A lock that excludes other processes: tried without blocking, released, or given up."""

    def try_acquire(self) -> bool: ...

    def release(self) -> None: ...

    def close(self) -> None: ...


class StudyLock:
    """Serialises the start of trials among the tuners (threads, processes, machines) of one study.

    A thread lock orders this tuner's own threads; then the cross-process lock (if the storage
    has one) is polled, so that waiting can be cancelled and bounded by ``timeout``.

    Args:
        where: What is locked, for messages (a lock file, or ``database study 'name'``).
        cross_process: The lock other processes see; None for a lock of this process only.
        guard: The thread lock; tuners of one process that must exclude each other share it.
        timeout: Seconds to wait for the lock before :meth:`acquire` raises.
    """

    def __init__(self, where: str, cross_process: _CrossProcessLock | None = None,
                 guard: threading.Lock | None = None, timeout: float = TIMEOUT_SECONDS) -> None:
        self.where, self._cross_process, self._timeout = where, cross_process, timeout
        self._guard = guard or threading.Lock()

    @property
    def cross_process(self) -> bool:
        """Whether tuners in other processes are excluded too."""
        return self._cross_process is not None

    def acquire(self, cancel: threading.Event | None = None) -> bool:
        """Waits for the lock; False when ``cancel`` is set first (the lock is then not held).

        Raises:
            TimeoutError: the lock was not free within ``timeout`` seconds.
        """
        deadline = time.monotonic() + self._timeout
        while not self._guard.acquire(timeout=_LAST_POLL_SECONDS):
            if cancel is not None and cancel.is_set():
                return False
            self._check_deadline(deadline)
        held = False
        try:
            held = self._cross_process is None or self._poll(deadline, cancel)
        finally:
            if not held:  # cancelled, timed out or failed: hold nothing
                if self._cross_process is not None:
                    self._cross_process.close()
                self._guard.release()
        return held

    def _poll(self, deadline: float, cancel: threading.Event | None) -> bool:
        """Tries the cross-process lock, more and more slowly, until it is taken (True) or ``cancel``."""
        pause = _FIRST_POLL_SECONDS
        while not self._cross_process.try_acquire():
            if cancel is not None and cancel.is_set():
                return False
            self._check_deadline(deadline)
            time.sleep(pause)
            pause = min(2 * pause, _LAST_POLL_SECONDS)
        return True

    def release(self) -> None:
        """Releases the lock taken by :meth:`acquire`."""
        try:
            if self._cross_process is not None:
                self._cross_process.release()
        finally:
            self._guard.release()

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()

    def _check_deadline(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError(message(
                "Timed out waiting for the study lock",
                expected=f"the tuner holding it to release it within {self._timeout:g} s (it holds it only "
                         "while it starts a trial)",
                fix="Look for a hung tuner of this study and end it: its lock goes with its process or "
                    "connection", lock=self.where))


class FileLock:
    """``fcntl.flock`` on a file of its own: excludes every other open of the file, in any process.

    Args:
        path: The lock file; created (empty) if missing, never removed.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        self.close()  # closing the file drops its lock

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class DatabaseLock:
    """A session-level named lock of a database server, on a connection of ``engine``.

    The lock belongs to the connection: the server drops it when the connection ends.

    Args:
        engine: A SQLAlchemy engine (an ``RDBStorage``'s).
        try_sql: A query returning 1 when the lock was taken, without waiting.
        release_sql: A query releasing it.
        params: The queries' parameters (the lock's key or name).
    """

    def __init__(self, engine: Any, try_sql: str, release_sql: str, params: dict) -> None:
        self._engine, self._try_sql, self._release_sql, self._params = engine, try_sql, release_sql, params
        self._connection: Any = None

    def try_acquire(self) -> bool:
        import sqlalchemy

        if self._connection is None:
            # Autocommit: no transaction is left open on the connection while the lock is held.
            self._connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._connection.execute(sqlalchemy.text(self._try_sql), self._params).scalar() == 1  # or True

    def release(self) -> None:
        import sqlalchemy

        connection, self._connection = self._connection, None
        try:
            connection.execute(sqlalchemy.text(self._release_sql), self._params)
        except BaseException:
            connection.invalidate()  # never return to the pool a connection that may still hold the lock
            raise
        finally:
            connection.close()

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()


def study_lock(storage: Any, location: str, study_name: str, timeout: float = TIMEOUT_SECONDS) -> StudyLock:
    """The lock of the study ``study_name`` in ``storage`` (see the module docstring).

    Args:
        storage: The Optuna storage from :func:`torch_estimator.tuning.storage.open_storage`.
        location: Its location from the same call: the journal path for a journal file.
        study_name: The study's name.
        timeout: Seconds :meth:`StudyLock.acquire` waits before it raises.
    """
    import optuna
    from optuna.storages.journal import JournalStorage

    if isinstance(storage, JournalStorage) and location.endswith((".journal", ".log")):
        path = os.path.abspath(location) + LOCK_SUFFIX
        return StudyLock(path, FileLock(path), timeout=timeout)
    if isinstance(storage, optuna.storages.RDBStorage):
        url = storage.engine.url
        dialect, database = url.get_backend_name(), url.database or ""
        if dialect == "sqlite" and database not in ("", ":memory:") and not database.startswith("file:"):
            path = os.path.abspath(database) + LOCK_SUFFIX
            return StudyLock(path, FileLock(path), timeout=timeout)
        where = f"{url.render_as_string(hide_password=True)} study {study_name!r}"
        digest = hashlib.sha256(f"torch_estimator.tuning\0{database}\0{study_name}".encode()).digest()
        if dialect == "postgresql":
            key = int.from_bytes(digest[:8], "big", signed=True)  # advisory lock keys are bigints
            return StudyLock(where, DatabaseLock(storage.engine, "SELECT pg_try_advisory_lock(:key)",
                                                 "SELECT pg_advisory_unlock(:key)", {"key": key}), timeout=timeout)
        if dialect in ("mysql", "mariadb"):
            name = "torch_estimator:" + digest.hex()[:40]  # names are server-wide, at most 64 characters
            return StudyLock(where, DatabaseLock(storage.engine, "SELECT GET_LOCK(:name, 0)",
                                                 "SELECT RELEASE_LOCK(:name)", {"name": name}), timeout=timeout)
    with _OBJECT_GUARDS_LOCK:
        try:
            guard = _OBJECT_GUARDS.setdefault(storage, threading.Lock())
        except TypeError:  # neither hashable nor weakly referenceable: a lock of this tuner only
            guard = threading.Lock()
    return StudyLock(f"{type(storage).__name__} object (this process only)", guard=guard, timeout=timeout)
