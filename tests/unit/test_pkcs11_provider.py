"""Keys in an HSM (crypto/pkcs11_provider.py) on a real PKCS#11 token, SoftHSM2: KEKs and culling-epoch keys are
made in the token and never leave it, wraps have the file provider's format, so rotation and rewrap move data keys
and sealed fields from a file ring into the token, and destroying an epoch destroys its object in the token."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from crypto import FieldSealer
from crypto.envelope import DataKey, rewrap, unwrap, wrap
from crypto.errors import DecryptionFailed, KeyRingError
from crypto.keyring import FileKeyProvider
from crypto.pkcs11_provider import Pkcs11KeyProvider
from tests.hsm import PIN
from tests.unit.test_crypto_envelope import BINDING, flip, same_key

ROOT = Path(__file__).resolve().parents[2]


def providers(tmp_path: Path, softhsm) -> tuple[FileKeyProvider, Pkcs11KeyProvider]:
    file = FileKeyProvider(tmp_path / "ring.json")
    file.init()
    return file, Pkcs11KeyProvider(file, module=softhsm.module, token_label=softhsm.label, pin=PIN)


def test_keys_are_made_in_the_token_and_never_leave_it(tmp_path, softhsm) -> None:
    import pkcs11

    _, hsm = providers(tmp_path, softhsm)
    assert hsm.rotate() == 2
    hsm.ensure_epoch("2031-12")
    assert softhsm.labels() == {"brygga-kek-2", "brygga-fields-2", "brygga-epoch-2031-12"}
    with softhsm.session() as session:
        for key in session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY}):
            assert key[pkcs11.Attribute.SENSITIVE] and not key[pkcs11.Attribute.EXTRACTABLE]
            with pytest.raises(pkcs11.AttributeSensitive):
                key[pkcs11.Attribute.VALUE]
    ring = hsm.load()
    assert ring.current_kek_version == 2 and set(ring.token_keks) == {2} and "2031-12" in ring.token_epochs
    with pytest.raises(KeyRingError):
        ring.kek(2)  # no raw bytes of a token's KEK anywhere in the process
    key = DataKey.generate()
    for epoch in (None, "2031-12"):
        wrapped = wrap(ring, key, binding=BINDING, epoch=epoch)
        assert wrapped.kek_version == 2 and same_key(key, unwrap(ring, wrapped, binding=BINDING))
        with pytest.raises(DecryptionFailed):  # the token's failed tag is a DecryptionFailed like any other
            unwrap(ring, replace(wrapped, ciphertext=flip(wrapped.ciphertext, 20, 0)), binding=BINDING)
        other = uuid.uuid4()
        with pytest.raises(DecryptionFailed):
            unwrap(ring, wrapped, binding=type(BINDING)(other, BINDING.client_id, BINDING.organisation, BINDING.domain))
    sealer = FieldSealer(ring)
    sealed = sealer.seal("Tolvan", record="client", record_id="1", field="name")
    assert sealed[1:5] == (2).to_bytes(4, "big") and FieldSealer(hsm.load()).open_text(
        sealed, record="client", record_id="1", field="name") == "Tolvan"  # the derived field key is stable


def test_rotation_and_rewrap_move_a_file_ring_into_the_token(tmp_path, softhsm) -> None:
    file, hsm = providers(tmp_path, softhsm)
    old_ring = file.ensure_epoch("2030-01")
    key, epoch_key = DataKey.generate(), DataKey.generate()
    plain = wrap(old_ring, key, binding=BINDING)
    in_epoch = wrap(old_ring, epoch_key, binding=BINDING, epoch="2030-01")
    sealed = FieldSealer(old_ring).seal("Tolvan", record="client", record_id="1", field="name")
    with pytest.raises(KeyRingError, match="keys rotate"):
        hsm.load()  # the newest KEK must be the token's
    assert hsm.rotate() == 2
    ring = hsm.load()
    assert ring.kek_versions == {1, 2} and ring.current_kek_version == 2
    moved = [rewrap(ring, wrapped, binding=BINDING) for wrapped in (plain, in_epoch)]
    assert [w.kek_version for w in moved] == [2, 2] and moved[1].epoch == "2030-01"
    resealed = FieldSealer(ring).seal(FieldSealer(ring).open_text(sealed, record="client", record_id="1", field="name"),
                                      record="client", record_id="1", field="name")
    hsm.retire(1)  # the file's KEK is gone: only the token's remains
    ring = hsm.load()
    assert ring.kek_versions == {2} and not ring.keks
    assert same_key(key, unwrap(ring, moved[0], binding=BINDING))
    assert same_key(epoch_key, unwrap(ring, moved[1], binding=BINDING))  # its epoch key still in the file
    with pytest.raises(DecryptionFailed):
        unwrap(ring, plain, binding=BINDING)
    assert FieldSealer(ring).open_text(resealed, record="client", record_id="1", field="name") == "Tolvan"
    # A second rotation within the token; the older token KEK is destroyed there when retired.
    assert hsm.rotate() == 3
    ring = hsm.load()
    again = rewrap(ring, moved[0], binding=BINDING)
    assert again.kek_version == 3
    with pytest.raises(KeyRingError, match="newest"):
        hsm.retire(3)
    hsm.retire(2)
    assert softhsm.labels() == {"brygga-kek-3", "brygga-fields-3"}
    assert same_key(key, unwrap(hsm.load(), again, binding=BINDING))


def test_destroying_an_epoch_destroys_its_object_in_the_token(tmp_path, softhsm) -> None:
    file, hsm = providers(tmp_path, softhsm)
    hsm.rotate()
    ring = hsm.ensure_epoch("2031-12")
    hsm.ensure_epoch("2032-01")
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING, epoch="2031-12")
    assert hsm.destroy_epoch("2031-12") is True
    assert softhsm.labels() == {"brygga-kek-2", "brygga-fields-2", "brygga-epoch-2032-01"}
    ring = hsm.load()
    assert "2031-12" not in ring.epoch_ids and "2031-12" in ring.destroyed_epochs
    assert "2031-12" in file.load().destroyed_epochs
    with pytest.raises(DecryptionFailed):
        unwrap(ring, wrapped, binding=BINDING)
    with pytest.raises(KeyRingError, match="never made again"):
        hsm.ensure_epoch("2031-12")
    assert hsm.destroy_epoch("2031-12") is False


def test_a_wrong_pin_or_token_is_a_start_up_error(tmp_path, softhsm) -> None:
    """In a process of its own each: a PKCS#11 login is the whole process's, and this one has logged in."""
    FileKeyProvider(tmp_path / "ring.json").init()
    for label, pin in ((softhsm.label, "wrong"), ("no-such-token", PIN)):
        script = ("import sys; from pathlib import Path; from crypto.keyring import FileKeyProvider; "
                  "from crypto.pkcs11_provider import Pkcs11KeyProvider; "
                  f"Pkcs11KeyProvider(FileKeyProvider(Path({str(tmp_path / 'ring.json')!r})), "
                  f"module={str(softhsm.module)!r}, token_label={label!r}, pin={pin!r}).load()")
        run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             env={**os.environ, "SOFTHSM2_CONF": str(softhsm.conf)})
        assert run.returncode == 1 and "KeyRingError: BRYGGA_PKCS11_TOKEN: cannot open token" in run.stderr, run.stderr
