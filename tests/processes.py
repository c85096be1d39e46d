"""Running the service as a process, as an operator would: its environment, the CLI, ports, exits."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def service_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without Brygga's settings, with its own data dir and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRYGGA_", "DATABASE_URL"))}
    return {**env, "BRYGGA_DATA_DIR": str(data_dir), **extra}


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gone(pid: int, seconds: float = 10) -> bool:
    """The process has exited (a zombie awaiting its reaper counts as exited)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False
