"""What the service makes of the database's resource errors, and how it keeps an embedded server running.

The real faults are in tests/integration (a full tmpfs tablespace, a connection-limited login, kill -9 of
the postmaster); these pin the decisions those tests cannot reach: SQLSTATE 53400, a watcher whose restart
fails with something unexpected, its back-off, its stop on shutdown, and a restart that never returns.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading

import asyncpg
import pytest

from service.embedded import _in_daemon_thread, keep_running
from service.http.middleware import out_of_resources


@pytest.mark.parametrize(("error", "status", "code", "retry_after"), [
    (asyncpg.exceptions.DiskFullError("could not extend file"), 503, "storage_full", "30"),
    (asyncpg.exceptions.TooManyConnectionsError("too many connections for role"), 503, "service_unavailable", "2"),
    (asyncpg.exceptions.OutOfMemoryError("out of memory"), 503, "service_unavailable", "2"),
    # A limit the request's own query exceeds fails the same way on every retry: not "retry shortly".
    (asyncpg.exceptions.ConfigurationLimitExceededError("temporary file size exceeds temp_file_limit"), 500,
     "internal_error", None),
])
def test_resource_errors_answer_by_whether_a_retry_can_help(error, status, code, retry_after):
    response = out_of_resources(error, "req-1")
    body = json.loads(response.text)
    assert (response.status, body["status"], body["code"], body["request_id"]) == (status, status, code, "req-1")
    assert response.content_type == "application/problem+json"
    assert response.headers.get("Retry-After") == retry_after


def _outcomes(*steps):
    """A restart function that takes each step in turn: an exception raises it, anything else is returned."""
    calls = iter(steps)

    def restart() -> bool:
        step = next(calls, False)
        if isinstance(step, BaseException):
            raise step
        return step
    return restart


async def _watch_until(records: list[logging.LogRecord], message: str, restart, **options) -> asyncio.Task:
    task = asyncio.create_task(keep_running(restart, interval=0.01, **options))
    async with asyncio.timeout(10):
        while not any(r.getMessage() == message for r in records):
            assert not task.done(), task
            await asyncio.sleep(0.01)
    return task


async def test_the_watcher_outlives_an_unexpected_failure_and_backs_off(caplog):
    caplog.set_level(logging.INFO, logger="brygga.database")
    restart = _outcomes(OSError(30, "Read-only file system"), RuntimeError("lock"), OSError(5, "I/O error"), True)
    task = await _watch_until(caplog.records, "embedded database started again after it stopped unexpectedly",
                              restart, longest=0.03)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    failures = [r for r in caplog.records if r.getMessage() == "embedded database is down and could not start again"]
    assert [r.error for r in failures] == ["OSError: [Errno 30] Read-only file system", "RuntimeError: lock",
                                           "OSError: [Errno 5] I/O error"]
    assert [r.retry_s for r in failures] == [0.02, 0.03, 0.03]  # doubling, up to `longest`
    assert all(r.levelno == logging.ERROR for r in failures)


async def test_the_watcher_stops_once_the_service_drains():
    restarts = []
    draining = asyncio.Event()

    def restart() -> bool:
        restarts.append(1)
        draining.set()
        return False

    task = asyncio.create_task(keep_running(restart, active=lambda: not draining.is_set(), interval=0.01))
    async with asyncio.timeout(10):
        await task  # returns by itself: no restart after the drain began
    assert len(restarts) == 1


async def test_a_restart_that_never_returns_holds_up_neither_the_caller_nor_the_exit():
    release = threading.Event()
    waiting = asyncio.create_task(_in_daemon_thread(release.wait))
    await asyncio.sleep(0.05)
    [thread] = [t for t in threading.enumerate() if t.name == "embedded-database-restart"]
    assert thread.daemon and thread.is_alive()  # a daemon thread: the interpreter's exit does not wait for it
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()  # finishing after its caller left must not raise anywhere
    thread.join(5)
    assert not thread.is_alive()
    assert await _in_daemon_thread(lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        await _in_daemon_thread(lambda: 1 / 0)


def test_a_shutdown_waits_for_a_stuck_restart_only_so_long(tmp_path, caplog):
    from service.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(tmp_path / "postgres")
    server.RESTART_WAIT = 0.2
    held = threading.Event()
    done = threading.Event()

    def stuck_restart() -> None:  # what restart_if_dead does while the wheel waits for a server that died again
        with server._guard:
            held.set()
            done.wait(10)

    thread = threading.Thread(target=stuck_restart, daemon=True)
    thread.start()
    held.wait(5)
    try:
        server.stop()  # returns instead of waiting for the guard forever
        assert "a restart is still waiting for its server; stopping anyway" in caplog.text
    finally:
        done.set()
        thread.join(5)
