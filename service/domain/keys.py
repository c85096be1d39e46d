"""Key-ring operations that touch the database: status, online re-wrapping of data keys, re-sealing of fields,
and retiring a KEK version nothing needs any more."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from crypto import DecryptionFailed, FieldSealer, FileKeyProvider, KeyRing, KeyRingError
from crypto.envelope import KeyBinding, WrappedKey, rewrap
from crypto.pkcs11_provider import Pkcs11KeyProvider

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
    versions = sorted(set(keyring.kek_versions) | set(wrapped) | set(sealed))
    return {version: (wrapped.get(version, 0), sealed.get(version, 0)) for version in versions}


async def epoch_status(pool: asyncpg.Pool, keyring: KeyRing) -> list[tuple[str, int, bool]]:
    """Every culling epoch in the ring or named by data: (epoch, active data keys under it, the ring holds it)."""
    async with pool.acquire() as conn:
        in_use = await retention_store.epochs_in_use(conn)
    return [(epoch, in_use.get(epoch, 0), epoch in keyring.epoch_ids)
            for epoch in sorted(set(keyring.epoch_ids) | set(in_use))]


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
                    binding = KeyBinding(document_id=row["content_id"], client_id=row["client_id"],
                                         organisation=row["organisation"], domain=row["domain"])
                    wrapped = rewrap(keyring, WrappedKey(row["kek_version"], row["dek_wrapped"], row["epoch"]), binding=binding)
                    updates.append((row["id"], wrapped.kek_version, wrapped.ciphertext))
                await keys_store.set_wrapped(conn, updates, versions=rows[0]["version"])
            done += len(rows)
            progress(done, total)
        left = await keys_store.count_older(conn, newest)
    return done, left


@dataclass(frozen=True, slots=True)
class Resealed:
    """What `reseal_all` did: fields sealed anew, fields still under an older version (in use: run again), and
    fields that did not open (tampered, or bound elsewhere: left as they are, and they keep their version)."""

    done: int
    left: int
    unopened: list[str]


async def reseal_all(conn: asyncpg.Connection, keyring: KeyRing, *, batch: int = 500,
                     progress: Callable[[int, int], None] = lambda done, total: None) -> Resealed:
    """Seal every sealed field again under the newest KEK, a batch of rows per transaction.

    `conn` must act as the owner role: the history triggers let only the owner's maintenance path through
    (and only changes of sealed columns to newer seals of the same length). Online and resumable like
    rewrap_all: each batch commits on its own, rows locked elsewhere are skipped (run again for those), and a
    run that stops between batches leaves every row either resealed or as it was. Each new seal is opened
    and compared with the old plaintext before it is written: the database cannot check that.
    """
    newest = keyring.current_kek_version
    sealer = FieldSealer(keyring)
    total = sum(fields for version, fields in (await keys_store.count_sealed_by_version(conn)).items() if version < newest)
    done, unopened = 0, []
    for table, (key_column, smallest) in keys_store.TABLE_KEYS.items():
        columns = keys_store.sealed_columns(table)
        after = smallest
        while True:
            async with conn.transaction():
                rows = await keys_store.lock_unsealed(conn, table, newest, after=after, limit=batch)
                if not rows:
                    break
                updates, count = [], 0
                for row in rows:
                    record_id = row["key"].hex() if isinstance(row["key"], bytes) else str(row["key"])
                    values: list[object] = [row["key"]]
                    for column in columns:
                        value, fresh = row[column.column], None
                        if value is not None and _sealed_version(value) < newest:
                            fresh = _reseal(sealer, bytes(value), column, record_id)
                            if fresh is None:
                                unopened.append(f"{table}.{column.column} {key_column}={record_id}")
                            else:
                                count += 1
                        values.append(fresh if fresh is not None else value)
                    if values[1:] != [row[column.column] for column in columns]:
                        updates.append(tuple(values))  # a row with nothing that opened is not written (the triggers
                        # would refuse a change that changes nothing)
                await keys_store.allow_reseal(conn)
                await keys_store.set_sealed(conn, table, updates)
                after = rows[-1]["key"]
            done += count
            progress(done, total)
    left = sum(fields for version, fields in (await keys_store.count_sealed_by_version(conn)).items() if version < newest)
    return Resealed(done=done, left=left - len(unopened), unopened=unopened)


def _sealed_version(sealed: bytes) -> int:
    """The KEK version a sealed field names (crypto/fields.py: bytes 1..4, big-endian)."""
    return int.from_bytes(sealed[1:5], "big")


def _reseal(sealer: FieldSealer, sealed: bytes, column: keys_store.SealedColumn, record_id: str) -> bytes | None:
    """`sealed` opened and sealed again under the newest version, checked to open to the same plaintext; None when
    it does not open."""
    record_id, field = column.binding(record_id)
    bound = {"record": column.record, "record_id": record_id, "field": field}
    try:
        plaintext = sealer.open(sealed, **bound)
    except DecryptionFailed:
        return None
    fresh = sealer.seal(plaintext, **bound)
    if sealer.open(fresh, **bound) != plaintext:  # pragma: no cover - a broken sealer; never write what would not open
        raise DecryptionFailed()
    return fresh


class RetireRefused(Exception):
    """`keys retire` would remove a version something still needs, the newest, or one the ring lacks."""


async def retire(pool: asyncpg.Pool, provider: FileKeyProvider | Pkcs11KeyProvider, version: int) -> None:
    """Remove KEK `version` from the ring once nothing in the database needs it; raises RetireRefused.

    Refused while any data key is wrapped or any field sealed by it (`keys rewrap`, `keys reseal` move them),
    for the newest version (it wraps and seals what is written now), and for a version the ring lacks. Nothing
    new is ever written under a version that is not the newest, so what the database holds is checked once,
    then the ring loses the key (under its lock, written atomically): from then on nothing it wrapped or
    sealed opens, in the live database or in any backup of it.
    """
    keyring = provider.load()
    if version not in keyring.kek_versions:
        raise RetireRefused(f"KEK version {version} is not in the ring (it holds {_versions(keyring)})")
    if version == keyring.current_kek_version:
        raise RetireRefused(f"KEK version {version} is the newest: it wraps and seals everything written now; "
                            "`keys rotate` first, then `keys rewrap` and `keys reseal`")
    wrapped, sealed = (await status(pool, keyring)).get(version, (0, 0))
    if wrapped or sealed:
        raise RetireRefused(f"KEK version {version} still wraps {wrapped} data keys and seals {sealed} fields; "
                            "run `keys rewrap` and `keys reseal` first")
    try:
        provider.retire(version)
    except KeyRingError as exc:
        raise RetireRefused(str(exc)) from None


def _versions(keyring: KeyRing) -> str:
    return ", ".join(str(version) for version in sorted(keyring.kek_versions))
