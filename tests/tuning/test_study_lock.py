"""The study lock: tuners sharing a study start at most ``max_trials`` trials, even when they count at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage

from torch_estimator.tuning import lock as lock_module
from torch_estimator.tuning import study as study_module
from torch_estimator.tuning.lock import FileLock, StudyLock, study_lock
from torch_estimator.tuning.storage import open_storage

HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("storage", ["shared.journal", "sqlite:///{}/shared.db"])
def test_two_tuners_counting_at_once_on_one_file_start_max_trials(race_tuners, tmp_path, storage):
    """The two tuners count the started trials at the same moment (see race_tuners): one waits for the other."""
    storage = storage.format(tmp_path) if "://" in storage else str(tmp_path / storage)
    trials = race_tuners(storage, "shared", max_trials=1)
    assert [t.trial_id for t in trials] == ["1"]
    assert race_tuners.barrier.broken, "the second tuner waited for the lock instead of counting with the first"


def test_without_a_lock_across_tuners_the_forced_race_overshoots(race_tuners, tmp_path, monkeypatch):
    """The control: the same race with a lock of each tuner only starts a trial too many (the bug)."""
    make_tuner = study_module._Tuner.__init__

    def tuner_with_its_own_lock(self, *args):
        make_tuner(self, *args)
        self._lock = StudyLock("this tuner only")

    monkeypatch.setattr(study_module._Tuner, "__init__", tuner_with_its_own_lock)
    trials = race_tuners(str(tmp_path / "shared.journal"), "shared", max_trials=1)
    assert sorted(t.trial_id for t in trials) == ["1", "2"]
    assert not race_tuners.barrier.broken


@pytest.fixture
def holder(tmp_path):
    """A process holding ``flock`` on ``tmp_path/held.lock``, as another tuner would; killed at the end."""
    path = str(tmp_path / "held.lock")
    process = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, path], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "locked\n"
    yield path, process
    process.kill()
    process.wait()


def test_a_lock_file_held_by_another_process_times_out_then_goes_with_its_process(holder):
    path, process = holder
    lock = StudyLock(path, FileLock(path), timeout=0.3)
    with pytest.raises(TimeoutError, match=rf"^Timed out waiting for the study lock\. Expected the tuner holding it "
                                           rf"to release it within 0\.3 s \(it holds it only while it starts a "
                                           rf"trial\)\. Received: lock='{path}'\. Look for a hung tuner of this "
                                           rf"study and end it: its lock goes with its process or connection\.$"):
        lock.acquire()
    os.kill(process.pid, signal.SIGKILL)  # a crashed tuner: the kernel drops its lock
    process.wait()
    with lock:
        second = StudyLock(path, FileLock(path), timeout=0.1)
        with pytest.raises(TimeoutError):
            second.acquire()  # another open of the file, even in this process, is excluded
    with second:
        pass


def test_waiting_for_the_lock_stops_when_the_tuner_stops(holder):
    path, _ = holder
    lock, stop = StudyLock(path, FileLock(path), timeout=30), threading.Event()
    threading.Timer(0.1, stop.set).start()
    assert lock.acquire(cancel=stop) is False
    assert lock._cross_process._fd is None, "a cancelled wait leaves the lock file closed"
    assert lock._guard.acquire(blocking=False), "and the lock free in this process"


def test_each_storage_gets_its_lock(tmp_path):
    journal, where = open_storage(None, str(tmp_path))
    lock = study_lock(journal, where, "s")
    assert lock.cross_process and lock.where == str(tmp_path / "study.journal") + ".tuners.lock"
    sqlite, where = open_storage(f"sqlite:///{tmp_path}/study.db", str(tmp_path))
    assert study_lock(sqlite, where, "s").where == str(tmp_path / "study.db") + ".tuners.lock"
    in_memory, where = open_storage("sqlite://", str(tmp_path))
    assert not study_lock(in_memory, where, "s").cross_process  # a database of this process only


def test_a_storage_object_is_locked_in_this_process_only(tmp_path):
    """Tuners given the same storage object share a lock of this process (all it can have)."""
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "own.journal")))
    first, second = (study_lock(*open_storage(storage, str(tmp_path)), "s", timeout=0.2) for _ in range(2))
    assert not first.cross_process and first.where == "JournalStorage object (this process only)"
    with first:
        with pytest.raises(TimeoutError, match="Received: lock='JournalStorage object"):
            second.acquire()
    other = study_lock(optuna.storages.InMemoryStorage(), "InMemoryStorage", "s", timeout=0.2)
    with first, other:  # another object: another lock
        pass


def test_the_tuner_holds_the_lock_only_while_it_starts_a_trial(tmp_path, trainer, monkeypatch):
    """While a trial runs, another tuner can take the study lock at once."""
    from torch_estimator.tuning import command_launcher, read_hyperparameters, run_study

    taken_during_trial = []
    run_trial = study_module._Tuner._run_trial

    def run_trial_checking_the_lock(self, trial, trial_id):
        path = str(tmp_path / "study.journal") + lock_module.LOCK_SUFFIX
        with StudyLock(path, FileLock(path), timeout=1):
            taken_during_trial.append(trial_id)
        return run_trial(self, trial, trial_id)

    monkeypatch.setattr(study_module._Tuner, "_run_trial", run_trial_checking_the_lock)
    spec = read_hyperparameters(trainer.spec(max_trials=2))
    run_study(spec, command_launcher(trainer.command(tmp_path)), str(tmp_path), poll_seconds=0.05)
    assert taken_during_trial == ["1", "2"]
