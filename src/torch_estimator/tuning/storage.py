"""Where a study lives: a journal file in the output directory, or a database shared by machines.

* ``None`` (default): ``<output_dir>/study.journal``, Optuna's ``JournalFileBackend``: nothing to
  start, safe for several processes on one machine, and faster than SQLite (measured: see
  docs/tuning.md). Re-running a tuner on the same output directory resumes its study.
* A path ending in ``.journal`` or ``.log``: that journal file.
* A SQLAlchemy URL (``sqlite:///...``, ``postgresql://user@host/db``, ``mysql+pymysql://...``):
  Optuna's ``RDBStorage``, with heartbeats so that a trial whose machine died is failed and
  retried by the next tuner. ``postgresql://`` uses psycopg 3 when psycopg2 is not installed.
* An Optuna storage object: used as it is.
"""

from __future__ import annotations

import importlib.util
import os
import time
import warnings
from typing import Any

from torch_estimator.errors import message

JOURNAL_NAME = "study.journal"
HEARTBEAT_SECONDS = 10
MAX_RETRIES = 3  # retries of a trial whose tuner died, before it counts as failed
_GRACE_SECONDS = 60
_SCHEMA_ATTEMPTS = 5
_SCHEMA_EXISTS = ("already exists", "Duplicate key name")  # MySQL's errors 1050 and 1061
_URL_SCHEMES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")


def open_storage(storage: Any, output_dir: str) -> tuple[Any, str]:
    """The Optuna storage for ``storage`` (see the module docstring), and where it is, for logs.

    The location is the journal path or the database URL with its password hidden.

    Raises:
        ValueError: ``storage`` is neither a journal path, a database URL nor a storage object.
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if storage is None:
        storage = os.path.join(output_dir, JOURNAL_NAME)
    if not isinstance(storage, (str, os.PathLike)):
        if isinstance(storage, optuna.storages.BaseStorage):
            return storage, type(storage).__name__
        raise ValueError(message("Unknown study storage", expected="None, a journal file path, a database URL or "
                                 "an optuna storage", fix="Pass e.g. postgresql://user@host/db",
                                 storage=storage))
    storage = os.fspath(storage)
    if "://" in storage:
        rdb = _database_storage(database_url(storage))
        return rdb, rdb.engine.url.render_as_string(hide_password=True)
    if not storage.endswith((".journal", ".log")):
        raise ValueError(message("A study file must be an Optuna journal", expected="a path ending in .journal "
                                 "or .log, or a database URL such as sqlite:///study.db",
                                 fix="Rename the file or pass a URL", storage=storage))
    os.makedirs(os.path.dirname(os.path.abspath(storage)), exist_ok=True)
    return JournalStorage(JournalFileBackend(storage)), storage


def database_url(url: str) -> str:
    """``url`` with a driver SQLAlchemy can load: ``postgresql://`` becomes ``postgresql+psycopg://``
    when psycopg 3 is installed and psycopg2 is not.

    Example:
        >>> database_url("sqlite:///study.db")
        'sqlite:///study.db'
    """
    scheme = url.split("://", 1)[0]
    if scheme.split("+", 1)[0] not in _URL_SCHEMES:
        raise ValueError(message("Unknown database URL scheme", expected=f"one of {_URL_SCHEMES} "
                                 "(SQLAlchemy's URLs)", fix="Use e.g. postgresql://user@host:5432/db",
                                 storage=url))
    if scheme in ("postgresql", "postgres") and importlib.util.find_spec("psycopg2") is None:
        if importlib.util.find_spec("psycopg") is not None:
            return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _database_storage(url: str) -> Any:
    """``RDBStorage`` with heartbeats; survives another tuner creating the tables at the same moment."""
    import optuna
    import sqlalchemy.exc

    attempt = 1
    while True:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats are "experimental"
                retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)
                return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS,
                                                  grace_period=_GRACE_SECONDS, heartbeat_stale_trial_callback=retry)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError,
                sqlalchemy.exc.OperationalError) as error:
            # Two tuners starting on a fresh database both create the schema; one loses the race
            # (PostgreSQL's duplicate enum type, MySQL's "Table 'studies' already exists"), and the
            # tables exist once the other commits.
            lost_race = not isinstance(error, sqlalchemy.exc.OperationalError) or any(
                words in str(error.orig) for words in _SCHEMA_EXISTS)
            if attempt == _SCHEMA_ATTEMPTS or not lost_race:
                raise
            time.sleep(0.5 * attempt)
            attempt += 1
