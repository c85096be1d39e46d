"""Tests for crypto.keyring (FileKeyProvider) and crypto.fields (FieldSealer).

Real keys and real AES-GCM throughout; every key ring lives in pytest's tmp_path.
"""
from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto import DecryptionFailed, FieldSealer, FileKeyProvider, KeyRing, KeyRingError

HEADER_BYTES = 5
NONCE_BYTES = 12
TAG_BYTES = 16
GENERIC_MESSAGE = str(DecryptionFailed())

CLIENT_A = {"record": "client", "record_id": "a1b2c3", "field": "name"}


# --------------------------------------------------------------------------- helpers


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_private(path: Path, content: str | bytes, mode: int = 0o600) -> None:
    """Write a file that is born with `mode` (no window where others could read it)."""
    data = content.encode() if isinstance(content, str) else content
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, mode)  # umask may have narrowed the mode given to os.open


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def valid_document() -> dict:
    """A well-formed key ring document, to be broken one field at a time."""
    return {
        "format": "brygga-keyring",
        "version": 1,
        "keks": [{"version": 1, "key": b64(b"\x01" * 32), "created_at": "2026-01-01T00:00:00+00:00"}],
        "pepper": b64(b"\x02" * 32),
        "audit_signing_keys": [{"id": "audit-1", "private_key": b64(b"\x03" * 32), "created_at": "2026-01-01T00:00:00+00:00"}],
    }


def kek_bytes(path: Path) -> dict[int, bytes]:
    document = json.loads(path.read_bytes())
    return {entry["version"]: base64.b64decode(entry["key"]) for entry in document["keks"]}


def flip(data: bytes, position: int, bit: int) -> bytes:
    changed = bytearray(data)
    changed[position] ^= 1 << bit
    return bytes(changed)


@pytest.fixture
def provider(tmp_path: Path) -> FileKeyProvider:
    provider = FileKeyProvider(tmp_path / "keyring.json")
    provider.init()
    return provider


@pytest.fixture
def sealer(provider: FileKeyProvider) -> FieldSealer:
    return FieldSealer(provider.load())


# --------------------------------------------------------------------------- key ring: init / load


def test_init_creates_file_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    FileKeyProvider(path).init()
    assert path.is_file()
    assert mode_of(path) == 0o600


def test_init_creates_missing_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "dev" / "keyring.json"
    FileKeyProvider(path).init()
    assert mode_of(path) == 0o600


def test_init_ring_loads_back_with_one_kek_pepper_and_audit_key(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    created = FileKeyProvider(path).init()
    loaded = FileKeyProvider(path).load()

    assert isinstance(loaded, KeyRing)
    assert loaded.current_kek_version == 1
    assert len(loaded.kek(1)) == 32
    assert len(loaded.pepper) == 32
    assert isinstance(loaded.audit_signing_key, Ed25519PrivateKey)
    # What init() returned is what is on disk.
    assert loaded.keks == created.keks
    assert loaded.pepper == created.pepper
    assert loaded.audit_key_id == created.audit_key_id


def test_init_generates_fresh_random_keys(tmp_path: Path) -> None:
    one = FileKeyProvider(tmp_path / "one.json").init()
    two = FileKeyProvider(tmp_path / "two.json").init()
    assert one.kek(1) != two.kek(1)
    assert one.pepper != two.pepper
    assert one.kek(1) != one.pepper


def test_second_init_refuses_and_leaves_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    FileKeyProvider(path).init()
    before = path.read_bytes()

    with pytest.raises(KeyRingError):
        FileKeyProvider(path).init()

    assert path.read_bytes() == before
    assert mode_of(path) == 0o600


def test_load_missing_file_tells_operator_to_run_keys_init(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="keys init"):
        FileKeyProvider(tmp_path / "absent.json").load()


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o604, 0o660])
def test_load_refuses_file_readable_by_others(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "keyring.json"
    FileKeyProvider(path).init()
    os.chmod(path, mode)
    with pytest.raises(KeyRingError, match="0600"):
        FileKeyProvider(path).load()


def test_load_accepts_hand_written_valid_ring(tmp_path: Path) -> None:
    """Guards the malformed-file tests below: their base document is valid."""
    path = tmp_path / "keyring.json"
    write_private(path, json.dumps(valid_document()))
    ring = FileKeyProvider(path).load()
    assert ring.kek(1) == b"\x01" * 32
    assert ring.pepper == b"\x02" * 32
    assert ring.audit_key_id == "audit-1"


def _broken(mutate) -> dict:
    document = valid_document()
    mutate(document)
    return document


MALFORMED = {
    "invalid json": "{not json",
    "empty file": "",
    "json array": "[]",
    "wrong format": json.dumps(_broken(lambda d: d.update(format="other-keyring"))),
    "missing format": json.dumps(_broken(lambda d: d.pop("format"))),
    "wrong version": json.dumps(_broken(lambda d: d.update(version=2))),
    "kek of 16 bytes": json.dumps(_broken(lambda d: d["keks"][0].update(key=b64(b"\x01" * 16)))),
    "non-base64 kek": json.dumps(_broken(lambda d: d["keks"][0].update(key="not*base64!"))),
    "kek not a string": json.dumps(_broken(lambda d: d["keks"][0].update(key=12345))),
    "no keks": json.dumps(_broken(lambda d: d.update(keks=[]))),
    "kek version 0": json.dumps(_broken(lambda d: d["keks"][0].update(version=0))),
    "missing pepper": json.dumps(_broken(lambda d: d.pop("pepper"))),
    "short pepper": json.dumps(_broken(lambda d: d.update(pepper=b64(b"\x02" * 31)))),
    "no audit key": json.dumps(_broken(lambda d: d.update(audit_signing_keys=[]))),
    "short audit seed": json.dumps(_broken(lambda d: d["audit_signing_keys"][0].update(private_key=b64(b"\x03" * 16)))),
}


@pytest.mark.parametrize("content", MALFORMED.values(), ids=MALFORMED.keys())
def test_load_rejects_malformed_ring(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keyring.json"
    write_private(path, content)
    assert mode_of(path) == 0o600  # the failure is about content, not mode
    with pytest.raises(KeyRingError):
        FileKeyProvider(path).load()


# --------------------------------------------------------------------------- key ring: rotate


def test_rotate_adds_versions_and_keeps_earlier_keks(provider: FileKeyProvider) -> None:
    path = provider.path
    original = kek_bytes(path)

    assert provider.rotate() == 2
    assert provider.load().current_kek_version == 2
    assert mode_of(path) == 0o600
    after_first = kek_bytes(path)
    assert after_first[1] == original[1]

    assert provider.rotate() == 3
    ring = provider.load()
    assert ring.current_kek_version == 3
    assert mode_of(path) == 0o600
    after_second = kek_bytes(path)
    assert after_second[1] == original[1]
    assert after_second[2] == after_first[2]
    assert set(after_second) == {1, 2, 3}
    assert len({after_second[1], after_second[2], after_second[3]}) == 3
    assert ring.kek(1) == original[1]


def test_rotate_keeps_pepper_and_audit_key(provider: FileKeyProvider) -> None:
    before = provider.load()
    provider.rotate()
    after = provider.load()
    assert after.pepper == before.pepper
    assert after.audit_key_id == before.audit_key_id


def test_rotate_refuses_ring_readable_by_others(provider: FileKeyProvider) -> None:
    os.chmod(provider.path, 0o644)
    before = provider.path.read_bytes()
    with pytest.raises(KeyRingError, match="0600"):
        provider.rotate()
    assert provider.path.read_bytes() == before


def test_rotate_of_missing_ring_fails(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="keys init"):
        FileKeyProvider(tmp_path / "absent.json").rotate()


def test_no_temporary_files_left_after_init_and_rotate(tmp_path: Path) -> None:
    provider = FileKeyProvider(tmp_path / "keyring.json")
    provider.init()
    assert sorted(os.listdir(tmp_path)) == ["keyring.json"]
    provider.rotate()
    provider.rotate()
    assert sorted(os.listdir(tmp_path)) == ["keyring.json"]


# --------------------------------------------------------------------------- sealer: round trip


@pytest.mark.parametrize("text", ["Tolvan Tolvansson", "", "Åsa Öberg", "19121212-1212"])
def test_seal_open_text_round_trip(sealer: FieldSealer, text: str) -> None:
    sealed = sealer.seal(text, **CLIENT_A)
    opened = sealer.open_text(sealed, **CLIENT_A)
    assert isinstance(opened, str)
    assert opened == text
    assert sealer.open(sealed, **CLIENT_A) == text.encode("utf-8")


@pytest.mark.parametrize("data", [b"", b"\x00\xff\x1f binary", bytes(range(256))])
def test_seal_open_bytes_round_trip(sealer: FieldSealer, data: bytes) -> None:
    sealed = sealer.seal(data, **CLIENT_A)
    opened = sealer.open(sealed, **CLIENT_A)
    assert isinstance(opened, bytes)
    assert opened == data


def test_sealed_layout_has_header_nonce_and_tag(sealer: FieldSealer) -> None:
    plaintext = "Åsa Öberg".encode()
    sealed = sealer.seal(plaintext, **CLIENT_A)
    assert len(sealed) == HEADER_BYTES + NONCE_BYTES + len(plaintext) + TAG_BYTES
    assert sealed[0] == 1
    assert int.from_bytes(sealed[1:5], "big") == 1


def test_two_seals_differ_and_do_not_contain_plaintext(sealer: FieldSealer) -> None:
    plaintext = "Tolvan Tolvansson"
    first = sealer.seal(plaintext, **CLIENT_A)
    second = sealer.seal(plaintext, **CLIENT_A)

    assert first != second
    assert first[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES] != second[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
    for sealed in (first, second):
        assert plaintext.encode() not in sealed
        assert b"Tolvan" not in sealed
    assert sealer.open_text(first, **CLIENT_A) == sealer.open_text(second, **CLIENT_A) == plaintext


# --------------------------------------------------------------------------- sealer: binding to record and field


@pytest.mark.parametrize(
    "other",
    [
        {"record": "client", "record_id": "d4e5f6", "field": "name"},
        {"record": "client", "record_id": "a1b2c3", "field": "personal_number"},
        {"record": "document", "record_id": "a1b2c3", "field": "name"},
        {"record": "client", "record_id": "a1b2c", "field": "3name"},  # boundary moved between parts
    ],
    ids=["other record_id", "other field", "other record", "shifted boundary"],
)
def test_ciphertext_is_bound_to_record_and_field(sealer: FieldSealer, other: dict) -> None:
    sealed = sealer.seal("Tolvan Tolvansson", **CLIENT_A)
    with pytest.raises(DecryptionFailed) as excinfo:
        sealer.open(sealed, **other)
    assert str(excinfo.value) == GENERIC_MESSAGE
    assert sealer.open_text(sealed, **CLIENT_A) == "Tolvan Tolvansson"  # still fine in its own place


# --------------------------------------------------------------------------- sealer: tampering


def test_flipping_any_bit_at_any_position_fails(sealer: FieldSealer) -> None:
    sealed = sealer.seal("Åsa Öberg", **CLIENT_A)
    messages = set()
    for position in range(len(sealed)):
        for bit in (0, 7):
            with pytest.raises(DecryptionFailed) as excinfo:
                sealer.open(flip(sealed, position, bit), **CLIENT_A)
            messages.add(str(excinfo.value))
    assert messages == {GENERIC_MESSAGE}


def test_truncation_to_every_shorter_length_fails(sealer: FieldSealer) -> None:
    sealed = sealer.seal("Åsa Öberg", **CLIENT_A)
    messages = set()
    for length in range(len(sealed)):
        with pytest.raises(DecryptionFailed) as excinfo:
            sealer.open(sealed[:length], **CLIENT_A)
        messages.add(str(excinfo.value))
    assert messages == {GENERIC_MESSAGE}


def test_appending_bytes_fails(sealer: FieldSealer) -> None:
    sealed = sealer.seal("Åsa Öberg", **CLIENT_A)
    with pytest.raises(DecryptionFailed):
        sealer.open(sealed + b"\x00", **CLIENT_A)


@pytest.mark.parametrize("version", [0, 2, 99, 2**32 - 1])
def test_header_naming_unknown_kek_version_fails(sealer: FieldSealer, version: int) -> None:
    sealed = sealer.seal("Tolvan", **CLIENT_A)
    forged = sealed[:1] + version.to_bytes(4, "big") + sealed[5:]
    with pytest.raises(DecryptionFailed) as excinfo:
        sealer.open(forged, **CLIENT_A)
    assert str(excinfo.value) == GENERIC_MESSAGE


def test_header_naming_other_existing_kek_version_fails(provider: FileKeyProvider) -> None:
    """Version 2 exists after rotation, but the value was sealed (and authenticated) under 1."""
    sealed = FieldSealer(provider.load()).seal("Tolvan", **CLIENT_A)
    provider.rotate()
    sealer = FieldSealer(provider.load())
    forged = sealed[:1] + (2).to_bytes(4, "big") + sealed[5:]
    with pytest.raises(DecryptionFailed):
        sealer.open(forged, **CLIENT_A)


@pytest.mark.parametrize("format_byte", [0x00, 0x02, 0xFF])
def test_changed_format_byte_fails(sealer: FieldSealer, format_byte: int) -> None:
    sealed = sealer.seal("Tolvan", **CLIENT_A)
    with pytest.raises(DecryptionFailed) as excinfo:
        sealer.open(bytes([format_byte]) + sealed[1:], **CLIENT_A)
    assert str(excinfo.value) == GENERIC_MESSAGE


def test_every_failure_has_the_same_generic_message(provider: FileKeyProvider, tmp_path: Path) -> None:
    sealer = FieldSealer(provider.load())
    sealed = sealer.seal("Tolvan", **CLIENT_A)
    stranger = FieldSealer(FileKeyProvider(tmp_path / "other.json").init())
    failures = {
        "bit flip": lambda: sealer.open(flip(sealed, 20, 0), **CLIENT_A),
        "truncated": lambda: sealer.open(sealed[:-1], **CLIENT_A),
        "empty": lambda: sealer.open(b"", **CLIENT_A),
        "unknown version": lambda: sealer.open(sealed[:1] + (7).to_bytes(4, "big") + sealed[5:], **CLIENT_A),
        "format": lambda: sealer.open(b"\x02" + sealed[1:], **CLIENT_A),
        "other record_id": lambda: sealer.open(sealed, **{**CLIENT_A, "record_id": "zzz"}),
        "other key ring": lambda: stranger.open(sealed, **CLIENT_A),
    }
    messages = {}
    for name, attempt in failures.items():
        with pytest.raises(DecryptionFailed) as excinfo:
            attempt()
        messages[name] = str(excinfo.value)
    assert set(messages.values()) == {"decryption failed"}, messages


def test_decryption_failed_message_reveals_nothing() -> None:
    assert str(DecryptionFailed()) == "decryption failed"


# --------------------------------------------------------------------------- sealer: rotation and foreign rings


def test_old_values_open_after_rotation_and_new_seals_use_new_version(provider: FileKeyProvider) -> None:
    old = FieldSealer(provider.load()).seal("Åsa Öberg", **CLIENT_A)
    assert int.from_bytes(old[1:5], "big") == 1

    assert provider.rotate() == 2
    rotated = FieldSealer(provider.load())

    assert rotated.open_text(old, **CLIENT_A) == "Åsa Öberg"
    new = rotated.seal("Åsa Öberg", **CLIENT_A)
    assert int.from_bytes(new[1:5], "big") == 2
    assert int.from_bytes(old[1:5], "big") == 1
    assert rotated.open_text(new, **CLIENT_A) == "Åsa Öberg"


def test_sealer_with_stale_ring_cannot_open_value_sealed_under_newer_kek(provider: FileKeyProvider) -> None:
    stale = FieldSealer(provider.load())
    provider.rotate()
    new = FieldSealer(provider.load()).seal("Tolvan", **CLIENT_A)
    with pytest.raises(DecryptionFailed):
        stale.open(new, **CLIENT_A)


def test_sealer_from_other_key_ring_cannot_open(sealer: FieldSealer, tmp_path: Path) -> None:
    sealed = sealer.seal("Tolvan Tolvansson", **CLIENT_A)
    stranger = FieldSealer(FileKeyProvider(tmp_path / "other.json").init())
    with pytest.raises(DecryptionFailed):
        stranger.open(sealed, **CLIENT_A)


# --------------------------------------------------------------------------- blind index


def test_blind_index_is_deterministic_32_bytes(provider: FileKeyProvider) -> None:
    first = FieldSealer(provider.load()).blind_index("191212121212", kind="personal_number")
    second = FieldSealer(provider.load()).blind_index("191212121212", kind="personal_number")
    assert isinstance(first, bytes)
    assert len(first) == 32
    assert first == second


def test_blind_index_survives_kek_rotation(provider: FileKeyProvider) -> None:
    before = FieldSealer(provider.load()).blind_index("191212121212", kind="personal_number")
    provider.rotate()
    after = FieldSealer(provider.load()).blind_index("191212121212", kind="personal_number")
    assert before == after


def test_blind_index_differs_by_kind(sealer: FieldSealer) -> None:
    assert sealer.blind_index("191212121212", kind="personal_number") != sealer.blind_index("191212121212", kind="name")


def test_blind_index_differs_by_value(sealer: FieldSealer) -> None:
    assert sealer.blind_index("191212121212", kind="personal_number") != sealer.blind_index("191212121213", kind="personal_number")


def test_blind_index_differs_by_ring(sealer: FieldSealer, tmp_path: Path) -> None:
    other = FieldSealer(FileKeyProvider(tmp_path / "other.json").init())
    assert sealer.blind_index("191212121212", kind="personal_number") != other.blind_index("191212121212", kind="personal_number")


def test_blind_index_is_not_the_plain_value(sealer: FieldSealer) -> None:
    index = sealer.blind_index("191212121212", kind="personal_number")
    assert b"191212121212" not in index


# --------------------------------------------------------------------------- invalid context


@pytest.mark.parametrize(
    "context",
    [
        {"record": "client", "record_id": "a\x1fb", "field": "name"},
        {"record": "client", "record_id": "a1b2c3", "field": ""},
        {"record": "", "record_id": "a1b2c3", "field": "name"},
        {"record": "client", "record_id": "", "field": "name"},
        {"record": "cli\x1fent", "record_id": "a1b2c3", "field": "name"},
        {"record": "client", "record_id": "a1b2c3", "field": "na\x1fme"},
    ],
    ids=["0x1f in record_id", "empty field", "empty record", "empty record_id", "0x1f in record", "0x1f in field"],
)
def test_invalid_context_is_rejected_on_seal_and_open(sealer: FieldSealer, context: dict) -> None:
    with pytest.raises(ValueError):
        sealer.seal("Tolvan", **context)
    sealed = sealer.seal("Tolvan", **CLIENT_A)
    with pytest.raises(ValueError):
        sealer.open(sealed, **context)
