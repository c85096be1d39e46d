"""Fixed test vectors for the stored formats: key, associated data, plaintext → exact bytes.

Round-trip tests cannot see a change that both directions make alike (a new
key-derivation label, a reordered associated-data field): every document, title
and name stored before it would no longer open. These vectors were computed from
the formats in the modules' docstrings with the primitives alone (AES-256-GCM,
HKDF-SHA256, HMAC-SHA256) and pin them: the code must open exactly these bytes.
"""
from __future__ import annotations

import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto import DecryptionFailed
from crypto.envelope import DataKey, KeyBinding, WrappedKey, _material, unwrap
from crypto.fields import FieldSealer
from crypto.keyring import KeyRing
from crypto.stream import StreamDecryptor

KEK = bytes(range(32))
DEK = bytes(range(32, 64))
PEPPER = bytes(range(64, 96))
DOCUMENT = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
CLIENT = uuid.UUID("ffeeddcc-bbaa-9988-7766-554433221100")
RING = KeyRing(keks={1: KEK}, pepper=PEPPER, audit_key_id="audit-1",
               audit_signing_key=Ed25519PrivateKey.from_private_bytes(bytes(32)))

# crypto/envelope.py: 0x01 || nonce 100..111 || AES-256-GCM(KEK, DEK, AD(document, client, malmo-stad, social, v1))
WRAPPED = bytes.fromhex(
    "016465666768696a6b6c6d6e6f683afc455dcc70b9164b75c3f64844d272f33439bf59c5459fe89673c79e9b77f6ee102c34762a57f2c13dbeafb74ec9")
# crypto/stream.py: segment size 16, salt 200..215, nonce prefix 1..7; 39 bytes of plaintext in three segments.
STREAM_HEADER = bytes.fromhex("0100000010c8c9cacbcccdcecfd0d1d2d3d4d5d6d701020304050607")
SEGMENTS = [bytes.fromhex(h) for h in (
    "fc3c9cf20ae5543b477b82b47eea8d79794ae5e9eb31a6e460120c10ab3ccd5b",
    "5e46377b192393f9fc5464eba2c5f68f007db5eba3264ab607da168d61437721",
    "b5a0f9b115e85016c8899737c1af5369b0d5df8a52f05d",
)]
PLAINTEXT = b"Utredning enligt SoL 11:1, sida 1 av 1."
# crypto/fields.py: 0x01 || KEK version 1 || nonce 50..61 || AES-256-GCM(HKDF(KEK, "brygga field key v1"), title, AD)
SEALED_TITLE = bytes.fromhex(
    "010000000132333435363738393a3b3c3d9d8dbc4c4068fa95124bf14684e2c6a162879909d402c5875db5567bd1448e5d4ed2")
TITLE = "Utredning – Åsa"
BLIND_INDEX = "78ccf5e860be4ab8a87cd0e82898519dec95156d3581b9a8c5ef485d9ab68152"


def test_a_wrapped_data_key_of_the_documented_format_opens() -> None:
    binding = KeyBinding(document_id=DOCUMENT, client_id=CLIENT, organisation="malmo-stad", domain="social")
    assert _material(unwrap(RING, WrappedKey(1, WRAPPED), binding=binding)) == DEK


def test_the_wrap_is_bound_to_every_field_of_its_associated_data() -> None:
    for binding in (
        KeyBinding(document_id=CLIENT, client_id=CLIENT, organisation="malmo-stad", domain="social"),
        KeyBinding(document_id=DOCUMENT, client_id=DOCUMENT, organisation="malmo-stad", domain="social"),
        KeyBinding(document_id=DOCUMENT, client_id=CLIENT, organisation="region-skane", domain="social"),
        KeyBinding(document_id=DOCUMENT, client_id=CLIENT, organisation="malmo-stad", domain="health"),
    ):
        with pytest.raises(DecryptionFailed):
            unwrap(RING, WrappedKey(1, WRAPPED), binding=binding)


def test_segments_of_the_documented_stream_format_decrypt_to_the_plaintext() -> None:
    decryptor = StreamDecryptor(DataKey(DEK), document_id=DOCUMENT, header=STREAM_HEADER)
    assert decryptor.segment_size == 16
    opened = b"".join(decryptor.decrypt_segment(i, segment, last=i == len(SEGMENTS) - 1)
                      for i, segment in enumerate(SEGMENTS))
    assert opened == PLAINTEXT


def test_a_stream_segment_is_bound_to_its_position_and_last_flag() -> None:
    decryptor = StreamDecryptor(DataKey(DEK), document_id=DOCUMENT, header=STREAM_HEADER)
    with pytest.raises(DecryptionFailed):
        decryptor.decrypt_segment(1, SEGMENTS[0], last=False)
    with pytest.raises(DecryptionFailed):
        decryptor.decrypt_segment(1, SEGMENTS[1], last=True)
    with pytest.raises(DecryptionFailed):
        StreamDecryptor(DataKey(DEK), document_id=CLIENT, header=STREAM_HEADER).decrypt_segment(0, SEGMENTS[0], last=False)


def test_a_sealed_field_of_the_documented_format_opens_for_its_record_and_field_only() -> None:
    sealer = FieldSealer(RING)
    assert sealer.open_text(SEALED_TITLE, record="document", record_id=str(DOCUMENT), field="title") == TITLE
    with pytest.raises(DecryptionFailed):
        sealer.open(SEALED_TITLE, record="document", record_id=str(CLIENT), field="title")
    with pytest.raises(DecryptionFailed):
        sealer.open(SEALED_TITLE, record="document", record_id=str(DOCUMENT), field="name")


def test_the_blind_index_is_the_documented_hmac() -> None:
    index = FieldSealer(RING).blind_index("191212121212", kind="personal_number")
    assert index.hex() == BLIND_INDEX
