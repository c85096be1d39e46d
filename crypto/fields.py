"""Sealed fields (names, personal numbers, titles) and keyed blind indexes.

A sealed field is AES-256-GCM under a per-KEK-version field key
(HKDF-SHA256 of the KEK, info "brygga field key v1"; for a KEK held in an HSM, derived
inside it: crypto/pkcs11_provider.py), bound by associated data to
the record and field it belongs to, so a ciphertext copied onto another record or
into another column does not open.

Byte layout (all integers big-endian):
    0      1 byte   format version, 0x01
    1..4   4 bytes  KEK version whose field key sealed it
    5..16  12 bytes random nonce (chosen here, never by a caller)
    17..   ciphertext || 16-byte GCM tag
Associated data = the 5 header bytes || b"brygga/field/v1" 0x1f record 0x1f record_id 0x1f field.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import DecryptionFailed, KeyRingError
from .keyring import KeyRing

_FORMAT = 1
_HEADER = struct.Struct(">BI")
_NONCE_BYTES = 12
_SEP = b"\x1f"


def _context(record: str, record_id: str, field: str) -> bytes:
    parts = (record, str(record_id), field)
    if any(not part or "\x1f" in part for part in parts):
        raise ValueError("record, record_id and field must be non-empty and contain no 0x1f")
    return _SEP.join([b"brygga/field/v1", *(part.encode() for part in parts)])


class FieldSealer:
    """Seal and open small fields, and compute blind indexes, with one key ring."""

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring
        self._aeads: dict[int, AESGCM] = {}

    def _aead(self, version: int) -> AESGCM:
        aead = self._aeads.get(version)
        if aead is None:
            aead = self._aeads[version] = AESGCM(self._keyring.field_key(version))
        return aead

    def seal(self, plaintext: str | bytes, *, record: str, record_id: str, field: str) -> bytes:
        """Encrypt `plaintext` for exactly this record and field under the newest KEK version."""
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        version = self._keyring.current_kek_version
        header = _HEADER.pack(_FORMAT, version)
        nonce = os.urandom(_NONCE_BYTES)
        return header + nonce + self._aead(version).encrypt(nonce, data, header + _context(record, record_id, field))

    def open(self, sealed: bytes, *, record: str, record_id: str, field: str) -> bytes:
        """Decrypt a sealed field; raises DecryptionFailed on any tamper, wrong record/field or unknown key."""
        if len(sealed) < _HEADER.size + _NONCE_BYTES + 16:
            raise DecryptionFailed()
        fmt, version = _HEADER.unpack_from(sealed)
        if fmt != _FORMAT:
            raise DecryptionFailed()
        try:
            aead = self._aead(version)
        except KeyRingError:
            raise DecryptionFailed() from None
        body_start = _HEADER.size + _NONCE_BYTES
        header, nonce, body = sealed[: _HEADER.size], sealed[_HEADER.size : body_start], sealed[body_start:]
        try:
            return aead.decrypt(nonce, body, header + _context(record, record_id, field))
        except InvalidTag:
            raise DecryptionFailed() from None

    def open_text(self, sealed: bytes, *, record: str, record_id: str, field: str) -> str:
        """`open` for text fields."""
        return self.open(sealed, record=record, record_id=record_id, field=field).decode()

    def content_mac(self) -> hmac.HMAC:
        """A fresh keyed MAC for document content (idempotent retries compare it); keyed by the pepper."""
        return hmac.new(self._keyring.pepper, b"brygga/content-mac/v1\x1f", hashlib.sha256)

    def blind_index(self, value: str, *, kind: str) -> bytes:
        """HMAC-SHA256 of `value` under the pepper, domain-separated by `kind`, for equality lookup."""
        return hmac.new(self._keyring.pepper, f"brygga/blind-index/v1\x1f{kind}\x1f{value}".encode(), hashlib.sha256).digest()
