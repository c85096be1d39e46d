"""The service with its KEKs and culling-epoch keys in an HSM (SoftHSM2 through PKCS#11): documents upload, list
and download as before, their keys wrapped inside the token; the ring file holds no KEK the token's replaced."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from crypto import FileKeyProvider, KeyRingError
from crypto.pkcs11_provider import Pkcs11KeyProvider
from service.app import create_app
from service.http.context import RUNTIME
from service.settings import Settings
from tests import files
from tests.conftest import AUDIENCE, ISSUER, Api
from tests.hsm import PIN
from tests.integration.test_documents import TITLE, created, world  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(settings, softhsm, tmp_path):
    """A ring file of its own, moved into the token: `keys rotate` made KEK 2 there."""
    ring = tmp_path / "hsm-ring.json"
    shutil.copy(settings.keyring_path, ring)
    ring.chmod(0o600)
    Pkcs11KeyProvider(FileKeyProvider(ring), module=softhsm.module, token_label=softhsm.label, pin=PIN).rotate()
    return replace(settings, keyring_path=ring, pkcs11_module=softhsm.module, pkcs11_token=softhsm.label,
                   pkcs11_pin_file=softhsm.pin_file)


async def test_documents_round_trip_with_keys_wrapped_in_the_token(client, world, db, softhsm):
    content = files.pdf(3 * 65536 + 5)
    document = await created(client, world["iof"], world["client"], content)
    row = await db.fetchrow("SELECT kek_version, epoch FROM documents WHERE id = $1", uuid.UUID(document["id"]))
    assert row["kek_version"] == 2  # the token's KEK wrapped it
    ring = client.app[RUNTIME].keyring
    assert set(ring.token_keks) == {2}
    # A culling epoch this ring file held before the move (the session's ring, copied, may have one from an
    # earlier test of this process) stays where it is; one made since is made in the token.
    if row["epoch"] is not None and row["epoch"] not in ring.epochs:
        assert row["epoch"] in ring.token_epochs and f"brygga-epoch-{row['epoch']}" in softhsm.labels()
    response = await client.get(f"/v1/documents/{document['id']}/content", headers=world["iof"])
    assert response.status == 200 and await response.read() == content
    listing = await (await client.get(f"/v1/clients/{world['client']}/documents", headers=world["iof"])).json()
    assert [item["title"] for item in listing["items"]] == [TITLE]  # sealed under the token's derived field key
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'document.read_content'") == 1


def _keys(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", "keys", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


async def test_the_cli_moves_a_file_ring_into_the_token(softhsm, tokens, db, database_url, tmp_path, signing_keys):
    """keys rotate (in the token), rewrap, reseal, retire 1: afterwards the ring file holds no KEK, and everything
    written under it opens through the token's."""
    ring = tmp_path / "moving-ring.json"
    shutil.copy(signing_keys.keyring_path, ring)
    ring.chmod(0o600)
    file_settings = Settings(data_dir=tmp_path, database_url=database_url, jwks_path=signing_keys.jwks_path,
                             keyring_path=ring, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, audit_seal_interval=0)
    async with TestClient(TestServer(create_app(file_settings))) as client:
        api = Api(client, tokens)
        await api.unit("malmo-iof")
        staff = api.staff("malmo-iof")
        person = (await api.register(staff))["id"]
        await api.relation(staff, person)
        contents = [files.pdf(70_000 + n) for n in range(3)]
        ids = [(await created(client, staff, person, content))["id"] for content in contents]
    assert {r["kek_version"] for r in await db.fetch("SELECT kek_version FROM documents")} == {1}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BRYGGA_")}, **softhsm.env(),
           "DATABASE_URL": database_url, "BRYGGA_KEYRING": str(ring), "BRYGGA_DATA_DIR": str(tmp_path)}
    for args, expect in ((("rotate",), "version 2"), (("rewrap",), "3 data keys now under KEK version 2"),
                         (("reseal",), "now sealed under KEK version 2"), (("retire", "1"), "removed")):
        run = _keys(*args, env=env)
        assert run.returncode == 0 and expect in run.stdout, (args, run.stdout, run.stderr)
    assert softhsm.labels() == {"brygga-kek-2", "brygga-fields-2"}
    status = _keys("status", env=env)
    assert "KEK version 2: 3 data keys" in status.stdout and "KEK version 1" not in status.stdout, status.stdout
    with pytest.raises(KeyRingError, match="in an HSM"):
        FileKeyProvider(ring).load()  # without the token, nothing opens
    hsm_settings = replace(file_settings, pkcs11_module=softhsm.module, pkcs11_token=softhsm.label,
                           pkcs11_pin_file=softhsm.pin_file)
    async with TestClient(TestServer(create_app(hsm_settings))) as client:
        for document_id, content in zip(ids, contents, strict=True):
            response = await client.get(f"/v1/documents/{document_id}/content", headers=staff)
            assert response.status == 200 and await response.read() == content
        listing = await (await client.get(f"/v1/clients/{person}/documents", headers=staff)).json()
        assert len(listing["items"]) == 3 and {item["title"] for item in listing["items"]} == {TITLE}
