"""A study shared through a real PostgreSQL server (started here), as tuners on several machines share one.

The server is Debian's ``postgresql`` package (``/usr/lib/postgresql/<version>/bin``, which
``.ci/run`` installs when it is missing). It runs as the ``postgres`` user when the tests run
as root (``initdb`` refuses root), on 127.0.0.1 at a free port, with its data and socket in a
temporary directory, and trusts local connections.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import optuna
import pytest

from torch_estimator.tuning import command_launcher, read_hyperparameters, run_study

INSTALL_HINT = ("PostgreSQL's server binaries were not found (initdb, postgres). Install them, e.g. "
                "`apt-get install -y postgresql` on Debian/Ubuntu (.ci/run does this when they are missing).")


def server_binaries() -> str:
    """The directory of initdb and postgres: Debian's versioned one, else the PATH's."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    initdb = found[-1] if found else shutil.which("initdb")
    if initdb is None:
        pytest.fail(INSTALL_HINT)
    return os.path.dirname(os.path.realpath(initdb))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """Starts a throwaway PostgreSQL server; yields its URL; stops it and removes its files."""
    binaries = server_binaries()
    root = tempfile.mkdtemp(prefix="tuning-postgres-")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: the server runs as postgres
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(root, "data"), free_port()
    subprocess.run([*as_user, os.path.join(binaries, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                    "--no-sync"], check=True, capture_output=True, timeout=120)
    server = subprocess.Popen([*as_user, os.path.join(binaries, "postgres"), "-D", data, "-k", root,
                               "-h", "127.0.0.1", "-p", str(port), "-c", "fsync=off"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        _wait_until_accepting(port, server)
        yield url
    finally:
        server.terminate()  # SIGTERM: PostgreSQL's "smart" shutdown, quick with no client left
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_accepting(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"PostgreSQL exited with {server.returncode}: {server.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                time.sleep(0.2)  # the port opens just before the server accepts logins
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail("PostgreSQL did not start within 60 s")


def check_shared_study(url: str, name: str, trials: int) -> list:
    """The study has ``trials`` completed trials, each run once, in a model_dir of its own."""
    study = optuna.load_study(study_name=name, storage=url.replace("postgresql://", "postgresql+psycopg://"))
    assert sorted(t.number for t in study.trials) == list(range(trials))
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    dirs = [t.user_attrs["model_dir"] for t in study.trials]
    assert len(set(dirs)) == trials and all(os.path.exists(os.path.join(d, "done")) for d in dirs)
    return study.trials


def test_two_tuners_share_one_study_through_postgres(postgres_url, tmp_path, trainer):
    """Two tuners (threads here, each with its own connection pool and output dir) fill one study of 4 trials."""
    spec = read_hyperparameters(trainer.spec(max_trials=4))
    results = {}

    def tuner(machine: str) -> None:
        output = str(tmp_path / machine)
        results[machine] = run_study(spec, command_launcher(trainer.command(output, "--sleep=0.1")), output,
                                     storage=postgres_url, study_name="shared", poll_seconds=0.05)

    threads = [threading.Thread(target=tuner, args=(machine,)) for machine in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    trials = check_shared_study(postgres_url, "shared", 4)
    by_machine = {machine: [t for t in trials if t.user_attrs["model_dir"].startswith(str(tmp_path / machine))]
                  for machine in ("a", "b")}
    assert all(by_machine.values()), "each tuner ran at least one trial"
    assert set(results) == {"a", "b"} and all(r.best is not None for r in results.values())


@pytest.mark.slow
def test_two_tuner_processes_share_one_study_through_postgres(postgres_url, tmp_path, trainer):
    """As above with two ``torch-estimator tune`` processes, as on two machines."""
    config = tmp_path / "hyperparam.yaml"
    config.write_text(json.dumps({"trainingInput": {"hyperparameters": trainer.spec(max_trials=4)}}))
    tuners = []
    for machine in ("a", "b"):
        output = tmp_path / machine
        tuners.append(subprocess.Popen(
            [sys.executable, "-m", "torch_estimator.cli.main", "tune", "--config", str(config), "--output_dir",
             str(output), "--storage", postgres_url, "--study_name", "processes", "--",
             *trainer.command(output, "--sleep=0.2")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [tuner.communicate(timeout=240)[0] for tuner in tuners]
    assert [tuner.returncode for tuner in tuners] == [0, 0], outputs
    check_shared_study(postgres_url, "processes", 4)
    assert all("Best trial" in output for output in outputs)


def test_run_study_on_postgres_resumes(postgres_url, tmp_path, trainer):
    spec = read_hyperparameters(trainer.spec(max_trials=1))
    launch = command_launcher(trainer.command(tmp_path))
    first = run_study(spec, launch, str(tmp_path), storage=postgres_url, study_name="resumed", poll_seconds=0.05)
    assert first.storage == postgres_url.replace("postgresql://", "postgresql+psycopg://")
    spec = read_hyperparameters(trainer.spec(max_trials=2))
    second = run_study(spec, launch, str(tmp_path), storage=postgres_url, study_name="resumed", poll_seconds=0.05)
    assert sorted(t.trial_id for t in second.trials) == ["1", "2"] and first.trials[0] in second.trials
