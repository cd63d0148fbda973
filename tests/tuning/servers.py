"""Throwaway database servers for the tuning tests: PostgreSQL and MariaDB, started from Debian's packages.

Each runs on 127.0.0.1 at a free port with its data in a temporary directory, trusts local
connections, and is stopped and removed at the end. ``.ci/run`` installs the packages when
they are missing; without them the tests fail and say what to install.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

POSTGRES_HINT = ("PostgreSQL's server binaries were not found (initdb, postgres). Install them, e.g. "
                 "`apt-get install -y postgresql` on Debian/Ubuntu (.ci/run does this when they are missing).")
MARIADB_HINT = ("MariaDB's server was not found (mariadbd, mariadb-install-db). Install it, e.g. "
                "`apt-get install -y --no-install-recommends mariadb-server` on Debian/Ubuntu (.ci/run does "
                "this when it is missing).")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_binaries() -> str:
    """The directory of initdb and postgres: Debian's versioned one, else the PATH's."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    initdb = found[-1] if found else shutil.which("initdb")
    if initdb is None:
        pytest.fail(POSTGRES_HINT)
    return os.path.dirname(os.path.realpath(initdb))


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server, as the ``postgres`` user when run as root (``initdb`` refuses root); its URL."""
    binaries = postgres_binaries()
    with _server_directory("tuning-postgres-") as root:
        as_user: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(root, account.pw_uid, account.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        data, port = os.path.join(root, "data"), free_port()
        subprocess.run([*as_user, os.path.join(binaries, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                        "--no-sync"], check=True, capture_output=True, timeout=120)
        # SIGTERM at the end: PostgreSQL's "smart" shutdown, quick with no client left.
        with _running([*as_user, os.path.join(binaries, "postgres"), "-D", data, "-k", root, "-h", "127.0.0.1",
                       "-p", str(port), "-c", "fsync=off"], port, "PostgreSQL"):
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"


@contextlib.contextmanager
def mariadb_server() -> Iterator[str]:
    """A MariaDB server without grant tables (anyone may connect as root) and a database ``optuna``; its URL."""
    server, install = shutil.which("mariadbd") or "/usr/sbin/mariadbd", shutil.which("mariadb-install-db")
    if not os.path.exists(server) or install is None:
        pytest.fail(MARIADB_HINT)
    import pymysql

    user = pwd.getpwuid(os.geteuid()).pw_name  # mariadbd runs as root only when told so
    with _server_directory("tuning-mariadb-") as root:
        data, port = os.path.join(root, "data"), free_port()
        subprocess.run([install, "--no-defaults", f"--datadir={data}", f"--user={user}", "--skip-test-db",
                        "--auth-root-authentication-method=normal"], check=True, capture_output=True, timeout=120)
        with _running([server, "--no-defaults", f"--datadir={data}", f"--user={user}", f"--socket={root}/sock",
                       f"--port={port}", "--bind-address=127.0.0.1", "--skip-grant-tables", "--skip-log-bin",
                       "--innodb-buffer-pool-size=16M", f"--pid-file={root}/pid"], port, "MariaDB"):
            with contextlib.closing(pymysql.connect(host="127.0.0.1", port=port, user="root")) as connection:
                connection.cursor().execute("CREATE DATABASE optuna")
            yield f"mysql+pymysql://root@127.0.0.1:{port}/optuna"


@contextlib.contextmanager
def _server_directory(prefix: str) -> Iterator[str]:
    root = tempfile.mkdtemp(prefix=prefix)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _running(command: list[str], port: int, name: str) -> Iterator[None]:
    """Runs the server ``command`` until the block ends (SIGTERM, then SIGKILL after 30 s)."""
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_accepting(port, server, name)
        yield
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_accepting(port: int, server: subprocess.Popen, name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"{name} exited with {server.returncode}: {server.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                time.sleep(0.2)  # the port opens just before the server accepts logins
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{name} did not start within 60 s")
