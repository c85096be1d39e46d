"""The service with its KEKs and culling-epoch keys in an HSM (SoftHSM2 through PKCS#11): documents upload, list
and download as before, their keys wrapped inside the token; the ring file holds no KEK the token's replaced."""
from __future__ import annotations

import shutil
import uuid
from dataclasses import replace

import pytest

from crypto import FileKeyProvider
from crypto.pkcs11_provider import Pkcs11KeyProvider
from service.http.context import RUNTIME
from tests import files
from tests.hsm import PIN
from tests.integration.test_documents import TITLE, created, world  # noqa: F401  (fixture)


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
    assert set(ring.token_keks) == {2} and (row["epoch"] is None or row["epoch"] in ring.token_epochs)
    assert row["epoch"] is None or f"brygga-epoch-{row['epoch']}" in softhsm.labels()
    response = await client.get(f"/v1/documents/{document['id']}/content", headers=world["iof"])
    assert response.status == 200 and await response.read() == content
    listing = await (await client.get(f"/v1/clients/{world['client']}/documents", headers=world["iof"])).json()
    assert [item["title"] for item in listing["items"]] == [TITLE]  # sealed under the token's derived field key
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'document.read_content'") == 1
