"""Key-ring operations that touch the database: status and online re-wrapping of data keys."""
from __future__ import annotations

from collections.abc import Callable

import asyncpg

from crypto import KeyRing
from crypto.envelope import KeyBinding, WrappedKey, rewrap

from ..store import keys as keys_store
from ..store import retention as retention_store


async def status(pool: asyncpg.Pool, keyring: KeyRing) -> dict[int, tuple[int, int]]:
    """Every KEK version of the ring (and any the data names) with (data keys it wraps, fields it sealed).

    A version is in use while either count is above 0: sealed fields (names, titles, reasons) keep the
    version that sealed them, so a version rewrap emptied of data keys may still be needed.
    """
    async with pool.acquire() as conn:
        wrapped = await keys_store.count_by_version(conn)
        sealed = await keys_store.count_sealed_by_version(conn)
    versions = sorted(set(keyring.keks) | set(wrapped) | set(sealed))
    return {version: (wrapped.get(version, 0), sealed.get(version, 0)) for version in versions}


async def epoch_status(pool: asyncpg.Pool, keyring: KeyRing) -> list[tuple[str, int, bool]]:
    """Every culling epoch in the ring or named by data: (epoch, active data keys under it, the ring holds it)."""
    async with pool.acquire() as conn:
        in_use = await retention_store.epochs_in_use(conn)
    return [(epoch, in_use.get(epoch, 0), epoch in keyring.epochs)
            for epoch in sorted(set(keyring.epochs) | set(in_use))]


async def rewrap_all(pool: asyncpg.Pool, keyring: KeyRing, *, batch: int = 500,
                     progress: Callable[[int, int], None] = lambda done, total: None) -> tuple[int, int]:
    """Re-wrap every data key under the newest KEK, a batch per transaction; (rewrapped, left locked).

    Online and resumable: each batch commits on its own, rows in use are skipped
    (run again for those), and segments are never read or written.
    """
    newest = keyring.current_kek_version
    async with pool.acquire() as conn:
        total = await keys_store.count_older(conn, newest)
        done = 0
        while True:
            async with conn.transaction():
                rows = await keys_store.lock_older(conn, newest, limit=batch)
                if not rows:
                    break
                updates = []
                for row in rows:
                    binding = KeyBinding(document_id=row["id"], client_id=row["client_id"],
                                         organisation=row["organisation"], domain=row["domain"])
                    wrapped = rewrap(keyring, WrappedKey(row["kek_version"], row["dek_wrapped"], row["epoch"]), binding=binding)
                    updates.append((row["id"], wrapped.kek_version, wrapped.ciphertext))
                await keys_store.set_wrapped(conn, updates)
            done += len(rows)
            progress(done, total)
        left = await keys_store.count_older(conn, newest)
    return done, left
