"""The migration runner: in order, in transactions, with checksums that catch edited history."""
from __future__ import annotations

from pathlib import Path

import pytest

from service.database import MigrationError, load_migrations, migrate


def _write(directory: Path, name: str, sql: str) -> None:
    (directory / name).write_text(sql)


async def _fresh_schema(db) -> None:
    await db.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")


async def test_applies_in_order_once_and_records_checksums(db, tmp_path):
    await _fresh_schema(db)
    _write(tmp_path, "0002_second.sql", "ALTER TABLE t ADD COLUMN b int;")
    _write(tmp_path, "0001_first.sql", "CREATE TABLE t (a int);")
    migrations = load_migrations(tmp_path)
    assert [m.name for m in migrations] == ["0001_first.sql", "0002_second.sql"]
    assert await migrate(db, migrations) == ["0001_first.sql", "0002_second.sql"]
    assert await migrate(db, migrations) == []
    rows = await db.fetch("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    assert [(r["version"], r["checksum"]) for r in rows] == [(m.version, m.checksum) for m in migrations]
    assert await db.fetchval("SELECT count(*) FROM information_schema.columns WHERE table_name = 't'") == 2


async def test_an_edited_applied_migration_stops_start_up(db, tmp_path):
    await _fresh_schema(db)
    _write(tmp_path, "0001_first.sql", "CREATE TABLE t (a int);")
    await migrate(db, load_migrations(tmp_path))
    _write(tmp_path, "0001_first.sql", "CREATE TABLE t (a bigint);")
    with pytest.raises(MigrationError, match="0001_first.sql was edited after it was applied"):
        await migrate(db, load_migrations(tmp_path))


async def test_a_removed_applied_migration_stops_start_up(db, tmp_path):
    await _fresh_schema(db)
    _write(tmp_path, "0001_first.sql", "CREATE TABLE t (a int);")
    await migrate(db, load_migrations(tmp_path))
    (tmp_path / "0001_first.sql").unlink()
    with pytest.raises(MigrationError, match="file is missing"):
        await migrate(db, load_migrations(tmp_path))


async def test_a_failing_migration_leaves_nothing_half_applied(db, tmp_path):
    await _fresh_schema(db)
    _write(tmp_path, "0001_first.sql", "CREATE TABLE t (a int);")
    _write(tmp_path, "0002_broken.sql", "CREATE TABLE u (a int); SELECT no_such_function();")
    with pytest.raises(Exception, match="no_such_function"):
        await migrate(db, load_migrations(tmp_path))
    assert await db.fetchval("SELECT to_regclass('u')") is None
    assert await db.fetchval("SELECT array_agg(version) FROM schema_migrations") == [1]


@pytest.mark.parametrize("name", ["1_short.sql", "0001-dash.sql", "0001_UPPER.sql"])
def test_badly_named_files_are_refused(tmp_path, name):
    _write(tmp_path, name, "SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_name.sql"):
        load_migrations(tmp_path)


def test_duplicate_numbers_are_refused(tmp_path):
    _write(tmp_path, "0001_a.sql", "SELECT 1;")
    _write(tmp_path, "0001_b.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="0001"):
        load_migrations(tmp_path)


def test_project_migrations_are_numbered_without_gaps():
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))
