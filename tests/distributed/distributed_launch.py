"""Starts test programs under torchrun (or as TF_CONFIG tasks) with timeouts that kill the group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

PROGRAM = str(Path(__file__).with_name("distributed_program.py"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CONFIG", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1", **extra)
    return env


def run(command: list[str], timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs ``command`` in its own process group; on timeout the whole group is killed."""
    process = subprocess.Popen(command, env=env or environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        raise AssertionError(f"timed out after {timeout} s:\n{output[-4000:]}") from None
    return subprocess.CompletedProcess(command, process.returncode, output, "")


def torchrun(args: list[str], nproc: int = 2, max_restarts: int = 0, timeout: float = 60,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --standalone`` on the test program, on loopback."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               f"--max-restarts={max_restarts}", "--monitor-interval=0.2", PROGRAM, *args]
    return run(command, timeout, env)


def start_task(args: list[str], tf_config: str) -> subprocess.Popen:
    """One TF_CONFIG task of the test program, in its own process group."""
    return subprocess.Popen([sys.executable, PROGRAM, *args], env=environment(TF_CONFIG=tf_config),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wait_all(processes: list[subprocess.Popen], timeout: float) -> list[str]:
    """Waits for every process; kills them all if one is still running at ``timeout``."""
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=timeout)[0])
    except subprocess.TimeoutExpired:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError("timed out:\n" + "\n----\n".join(p.communicate()[0][-3000:] for p in processes)) from None
    return outputs


def summary(output: str, limit: int = 6000) -> str:
    """The lines of a failed run that explain it: no INFO lines, no traceback frames."""
    lines = [line for line in output.splitlines()
             if not line.startswith("INFO") and not line.split("]:", 1)[-1].startswith("  ")]
    return "\n".join(lines)[-limit:]
