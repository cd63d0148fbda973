"""The study lock on database servers started here (PostgreSQL's advisory locks, MariaDB's GET_LOCK)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from torch_estimator.tuning.lock import study_lock
from torch_estimator.tuning.storage import open_storage

# A tuner that takes the study lock (the lock's own query) and hangs, or is killed, while holding it.
HOLD_STUDY_LOCK = """
import json, sys, time
import sqlalchemy
connection = sqlalchemy.create_engine(sys.argv[1]).connect().execution_options(isolation_level="AUTOCOMMIT")
assert connection.execute(sqlalchemy.text(sys.argv[2]), json.loads(sys.argv[3])).scalar() == 1
print("locked", flush=True)
time.sleep(60)
"""


@pytest.fixture(params=["postgres_url", "mysql_url"])
def database_url(request):
    """Each kind of database server with a lock of its own (started once per run)."""
    return request.getfixturevalue(request.param)


def test_two_tuners_counting_at_once_on_a_database_start_max_trials(database_url, race_tuners):
    """The two tuners count the started trials at the same moment (see race_tuners): one waits for the other."""
    trials = race_tuners(database_url, "raced", max_trials=1)
    assert [t.trial_id for t in trials] == ["1"]
    assert race_tuners.barrier.broken, "the second tuner waited for the lock instead of counting"


def test_a_database_study_lock_goes_with_the_connection_holding_it(database_url, tmp_path):
    storage, where = open_storage(database_url, str(tmp_path))
    lock = study_lock(storage, where, "held", timeout=0.3)
    assert lock.cross_process
    held = lock._cross_process
    holder = subprocess.Popen([sys.executable, "-c", HOLD_STUDY_LOCK, storage.engine.url.render_as_string(False),
                               held._try_sql, json.dumps(held._params)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(TimeoutError, match=re.escape(f"Received: lock=\"{where} study 'held'\".")):
            lock.acquire()
        with study_lock(storage, where, "another study", timeout=0.3):  # a lock of its own
            pass
    finally:
        holder.kill()  # a crashed tuner: its connection ends, and the server drops its lock
        holder.wait()
    with lock:
        with pytest.raises(TimeoutError):
            study_lock(storage, where, "held", timeout=0.3).acquire()  # another connection, even in this process
    with lock:  # released: its connection went back to the pool without the lock
        pass
