"""Tests for crypto.envelope: data keys wrapped by the key ring's KEKs.

Real keys and real AES-GCM throughout. DataKey is opaque, so "the same key" is
checked by decrypting a stream segment encrypted under the original key.
"""
from __future__ import annotations

import base64
import os
import pickle
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto.envelope import DataKey, KeyBinding, WrappedKey, _material, rewrap, unwrap, wrap
from crypto.errors import DecryptionFailed, KeyRingError
from crypto.keyring import FileKeyProvider, KeyRing
from crypto.stream import StreamDecryptor, StreamEncryptor

WRAPPED_BYTES = 1 + 12 + 32 + 16
GENERIC_MESSAGE = "decryption failed"

BINDING = KeyBinding(
    document_id=uuid.UUID("6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab"),
    client_id=uuid.UUID("0a1b2c3d-4e5f-4a6b-9c8d-fedcba987654"),
    organisation="malmo-stad",
    domain="social",
)


# --------------------------------------------------------------------------- helpers


def make_ring(*versions: int) -> KeyRing:
    return KeyRing(
        keks={version: os.urandom(32) for version in versions or (1,)},
        pepper=os.urandom(32),
        audit_key_id="audit-1",
        audit_signing_key=Ed25519PrivateKey.generate(),
    )


def flip(data: bytes, position: int, bit: int) -> bytes:
    changed = bytearray(data)
    changed[position] ^= 1 << bit
    return bytes(changed)


def same_key(original: DataKey, candidate: DataKey) -> bool:
    """Whether `candidate` opens a stream segment sealed under `original`."""
    document_id = uuid.uuid4()
    encryptor = StreamEncryptor(original, document_id=document_id, segment_size=64)
    segment = encryptor.encrypt_segment(b"content of the document", last=True)
    try:
        plaintext = StreamDecryptor(candidate, document_id=document_id, header=encryptor.header).decrypt_segment(0, segment, last=True)
    except DecryptionFailed:
        return False
    return plaintext == b"content of the document"


def assert_fails(attempt) -> None:
    with pytest.raises(DecryptionFailed) as excinfo:
        attempt()
    assert str(excinfo.value) == GENERIC_MESSAGE
    # Nothing chained either: the underlying InvalidTag or KeyRingError stays hidden.
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__context__ is None or excinfo.value.__suppress_context__


@pytest.fixture
def ring() -> KeyRing:
    return make_ring(1)


# --------------------------------------------------------------------------- round trip and layout


def test_wrap_unwrap_round_trip(ring: KeyRing) -> None:
    key = DataKey.generate()
    wrapped = wrap(ring, key, binding=BINDING)
    unwrapped = unwrap(ring, wrapped, binding=BINDING)
    assert isinstance(unwrapped, DataKey)
    assert same_key(key, unwrapped)


def test_round_trip_with_key_ring_from_file_provider(tmp_path: Path) -> None:
    ring = FileKeyProvider(tmp_path / "ring.json").init()
    key = DataKey.generate()
    wrapped = wrap(ring, key, binding=BINDING)
    assert same_key(key, unwrap(FileKeyProvider(tmp_path / "ring.json").load(), wrapped, binding=BINDING))


def test_same_key_helper_tells_keys_apart() -> None:
    """Guards the tests below: two generated keys are different keys."""
    key = DataKey.generate()
    assert same_key(key, key)
    assert not same_key(key, DataKey.generate())


def test_wrapped_layout(ring: KeyRing) -> None:
    key = DataKey.generate()
    wrapped = wrap(ring, key, binding=BINDING)
    assert wrapped.kek_version == 1
    assert isinstance(wrapped.ciphertext, bytes)
    assert len(wrapped.ciphertext) == WRAPPED_BYTES
    assert wrapped.ciphertext[0] == 0x01
    assert _material(key) not in wrapped.ciphertext


def test_two_wraps_of_the_same_key_differ(ring: KeyRing) -> None:
    key = DataKey.generate()
    first = wrap(ring, key, binding=BINDING)
    second = wrap(ring, key, binding=BINDING)
    assert first.ciphertext != second.ciphertext
    assert first.ciphertext[1:13] != second.ciphertext[1:13]  # fresh nonce each time
    assert same_key(key, unwrap(ring, first, binding=BINDING))
    assert same_key(key, unwrap(ring, second, binding=BINDING))


# --------------------------------------------------------------------------- binding


@pytest.mark.parametrize(
    "other",
    [
        replace(BINDING, document_id=uuid.uuid4()),
        replace(BINDING, client_id=uuid.uuid4()),
        replace(BINDING, document_id=BINDING.client_id, client_id=BINDING.document_id),
        replace(BINDING, organisation="region-skane"),
        replace(BINDING, domain="health"),
        replace(BINDING, organisation="social", domain="malmo-stad"),
        replace(BINDING, organisation="malmo-sta", domain="dsocial"),
        replace(BINDING, organisation="Malmo-stad"),
    ],
    ids=["other document", "other client", "ids swapped", "other organisation", "other domain",
         "zone parts swapped", "shifted boundary", "organisation case"],
)
def test_wrapped_key_is_bound_to_document_client_and_zone(ring: KeyRing, other: KeyBinding) -> None:
    key = DataKey.generate()
    wrapped = wrap(ring, key, binding=BINDING)
    assert_fails(lambda: unwrap(ring, wrapped, binding=other))
    assert same_key(key, unwrap(ring, wrapped, binding=BINDING))  # still fine in its own place


@pytest.mark.parametrize(
    "changes",
    [{"organisation": ""}, {"domain": ""}, {"organisation": "malmo\x1fstad"}, {"domain": "soc\x1fial"}],
    ids=["empty organisation", "empty domain", "0x1f in organisation", "0x1f in domain"],
)
def test_binding_refuses_ambiguous_zone(changes: dict) -> None:
    with pytest.raises(ValueError):
        replace(BINDING, **changes)


def test_binding_requires_uuids() -> None:
    with pytest.raises(TypeError):
        replace(BINDING, document_id=str(BINDING.document_id))
    with pytest.raises(TypeError):
        replace(BINDING, client_id=BINDING.client_id.bytes)


# --------------------------------------------------------------------------- tampering


def test_flipping_any_bit_at_any_position_fails(ring: KeyRing) -> None:
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING)
    for position in range(len(wrapped.ciphertext)):
        for bit in (0, 3, 7):
            forged = WrappedKey(kek_version=1, ciphertext=flip(wrapped.ciphertext, position, bit))
            assert_fails(lambda: unwrap(ring, forged, binding=BINDING))


def test_truncation_to_every_shorter_length_fails(ring: KeyRing) -> None:
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING)
    for length in range(len(wrapped.ciphertext)):
        forged = WrappedKey(kek_version=1, ciphertext=wrapped.ciphertext[:length])
        assert_fails(lambda: unwrap(ring, forged, binding=BINDING))


def test_appended_bytes_fail(ring: KeyRing) -> None:
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING)
    assert_fails(lambda: unwrap(ring, replace(wrapped, ciphertext=wrapped.ciphertext + b"\x00"), binding=BINDING))


@pytest.mark.parametrize("format_byte", [0x00, 0x02, 0xFF])
def test_changed_format_byte_fails(ring: KeyRing, format_byte: int) -> None:
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING)
    forged = replace(wrapped, ciphertext=bytes([format_byte]) + wrapped.ciphertext[1:])
    assert_fails(lambda: unwrap(ring, forged, binding=BINDING))


def test_relabelled_with_another_existing_kek_version_fails() -> None:
    ring = make_ring(1, 2)
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING)
    assert wrapped.kek_version == 2
    assert_fails(lambda: unwrap(ring, WrappedKey(kek_version=1, ciphertext=wrapped.ciphertext), binding=BINDING))


def test_relabelled_when_both_versions_hold_the_same_kek_still_fails() -> None:
    """The version is in the associated data, not only used to pick the KEK."""
    kek = os.urandom(32)
    ring = KeyRing(keks={1: kek, 2: kek}, pepper=os.urandom(32), audit_key_id="audit-1",
                   audit_signing_key=Ed25519PrivateKey.generate())
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING)
    assert_fails(lambda: unwrap(ring, replace(wrapped, kek_version=1), binding=BINDING))


@pytest.mark.parametrize("version", [0, -1, 2, 99, 2**32 - 1, 2**32, 2**64])
def test_unknown_kek_version_is_decryption_failed_not_key_ring_error(ring: KeyRing, version: int) -> None:
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING)
    forged = WrappedKey(kek_version=version, ciphertext=wrapped.ciphertext)
    try:
        unwrap(ring, forged, binding=BINDING)
    except KeyRingError:
        pytest.fail("an unknown KEK version must surface as DecryptionFailed")
    except DecryptionFailed as exc:
        assert str(exc) == GENERIC_MESSAGE
    else:
        pytest.fail("unwrap succeeded with an unknown KEK version")


def test_other_key_ring_cannot_unwrap(ring: KeyRing) -> None:
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING)
    assert_fails(lambda: unwrap(make_ring(1), wrapped, binding=BINDING))


def test_malformed_wrapped_values_fail(ring: KeyRing) -> None:
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING)
    for forged in (
        WrappedKey(kek_version=1, ciphertext=b""),
        WrappedKey(kek_version=1, ciphertext=bytes(WRAPPED_BYTES)),
        WrappedKey(kek_version="1", ciphertext=wrapped.ciphertext),  # type: ignore[arg-type]
        WrappedKey(kek_version=1, ciphertext=wrapped.ciphertext.hex()),  # type: ignore[arg-type]
    ):
        assert_fails(lambda: unwrap(ring, forged, binding=BINDING))


# --------------------------------------------------------------------------- rotation and rewrap


def test_rotation_wrap_uses_newest_old_still_unwraps_rewrap_moves_it(tmp_path: Path) -> None:
    provider = FileKeyProvider(tmp_path / "ring.json")
    provider.init()
    key = DataKey.generate()
    old = wrap(provider.load(), key, binding=BINDING)
    assert old.kek_version == 1

    assert provider.rotate() == 2
    ring = provider.load()

    assert wrap(ring, DataKey.generate(), binding=BINDING).kek_version == 2
    assert same_key(key, unwrap(ring, old, binding=BINDING))

    moved = rewrap(ring, old, binding=BINDING)
    assert moved.kek_version == 2
    assert moved.ciphertext != old.ciphertext
    assert same_key(key, unwrap(ring, moved, binding=BINDING))
    assert_fails(lambda: unwrap(ring, moved, binding=replace(BINDING, document_id=uuid.uuid4())))
    assert_fails(lambda: unwrap(ring, replace(moved, kek_version=1), binding=BINDING))


def test_rewrap_with_directly_built_rings() -> None:
    kek1 = os.urandom(32)
    old_ring = KeyRing(keks={1: kek1}, pepper=os.urandom(32), audit_key_id="audit-1",
                       audit_signing_key=Ed25519PrivateKey.generate())
    new_ring = KeyRing(keks={1: kek1, 2: os.urandom(32)}, pepper=old_ring.pepper, audit_key_id="audit-1",
                       audit_signing_key=old_ring.audit_signing_key)
    key = DataKey.generate()
    old = wrap(old_ring, key, binding=BINDING)
    moved = rewrap(new_ring, old, binding=BINDING)
    assert (old.kek_version, moved.kek_version) == (1, 2)
    assert same_key(key, unwrap(new_ring, moved, binding=BINDING))
    # A ring that has not seen the rotation cannot open the rewrapped key.
    assert_fails(lambda: unwrap(old_ring, moved, binding=BINDING))


def test_rewrap_of_newest_returns_it_unchanged() -> None:
    ring = make_ring(1, 2)
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING)
    assert rewrap(ring, wrapped, binding=BINDING) is wrapped


def test_rewrap_authenticates_even_when_already_newest() -> None:
    ring = make_ring(1, 2)
    wrapped = wrap(ring, DataKey.generate(), binding=BINDING)
    assert_fails(lambda: rewrap(ring, replace(wrapped, ciphertext=flip(wrapped.ciphertext, 20, 0)), binding=BINDING))
    assert_fails(lambda: rewrap(ring, wrapped, binding=replace(BINDING, domain="health")))


def test_rewrap_of_tampered_or_misbound_old_key_fails() -> None:
    ring = make_ring(1)
    old = wrap(ring, DataKey.generate(), binding=BINDING)
    rotated = KeyRing(keks={**ring.keks, 2: os.urandom(32)}, pepper=ring.pepper, audit_key_id="audit-1",
                      audit_signing_key=ring.audit_signing_key)
    assert_fails(lambda: rewrap(rotated, replace(old, ciphertext=flip(old.ciphertext, 30, 5)), binding=BINDING))
    assert_fails(lambda: rewrap(rotated, old, binding=replace(BINDING, client_id=uuid.uuid4())))
    assert_fails(lambda: rewrap(rotated, replace(old, kek_version=3), binding=BINDING))


# --------------------------------------------------------------------------- DataKey is opaque


def test_repr_and_str_do_not_reveal_the_key() -> None:
    key = DataKey.generate()
    raw = _material(key)
    encodings = [raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
                 base64.b64encode(raw).decode().rstrip("="), repr(raw)]
    for text in (repr(key), str(key), f"{key}", f"{key!r}", repr([key]), repr({"key": key})):
        for encoding in encodings:
            assert encoding not in text
        assert raw.hex()[:16] not in text


def test_data_key_does_not_pickle() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(DataKey.generate())


def test_data_key_has_no_public_attributes() -> None:
    key = DataKey.generate()
    assert [name for name in dir(key) if not name.startswith("_")] == ["generate"]
    with pytest.raises(AttributeError):
        key.material = b"x" * 32  # type: ignore[attr-defined]


def test_generated_keys_are_32_random_bytes() -> None:
    keys = [_material(DataKey.generate()) for _ in range(8)]
    assert all(len(raw) == 32 for raw in keys)
    assert len(set(keys)) == 8


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_data_key_refuses_wrong_length(length: int) -> None:
    with pytest.raises(ValueError):
        DataKey(os.urandom(length))
