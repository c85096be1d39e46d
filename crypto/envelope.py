"""Envelope encryption: a random data key (DEK) per document, wrapped by the key ring's KEK.

The document's content is encrypted under its DEK (see crypto.stream); only the
wrapped DEK is stored, next to the document. Rotating the KEK rewraps 61 bytes
per document instead of re-encrypting its content; shredding a document is
deleting its wrapped DEK.

A wrap is AES-256-GCM under the newest KEK version of the ring, bound by
associated data to the document, its client and its zone, and to the KEK version
itself, so a wrapped DEK copied onto another document, client, organisation or
domain, or relabelled with another KEK version, does not open.

Byte layout of WrappedKey.ciphertext (61 bytes; the KEK version is stored beside
it, in WrappedKey.kek_version):
    0       1 byte   format version, 0x01
    1..12   12 bytes random nonce (chosen here, never by a caller)
    13..44  32 bytes the encrypted DEK
    45..60  16 bytes GCM tag
Associated data (integers big-endian, text UTF-8, 0x1f a separator byte):
    b"brygga/dek/v1" 0x1f document_id (16 bytes) 0x1f client_id (16 bytes)
    0x1f organisation 0x1f domain 0x1f kek_version (4 bytes)
Organisation and domain are non-empty and contain no 0x1f (ValueError
otherwise), so the associated data parses one way only.

A data key of a file that will be culled (API-1.1 "Retention") is wrapped twice:
first by the key of its culling epoch (the month its file is due, kept in the
key ring: crypto/keyring.py), then that by the KEK. Destroying the epoch key
makes the wrapped key in every database backup useless. Format 2 (89 bytes;
WrappedKey.epoch names the epoch, stored beside it):
    0       1 byte   format version, 0x02
    1..12   12 bytes random nonce of the KEK wrap
    13..72  60 bytes the encrypted inner wrap: 12-byte nonce, 32-byte encrypted DEK, 16-byte tag under the
                     epoch key, associated data b"brygga/dek-epoch/v1" 0x1f document_id 0x1f client_id 0x1f
                     organisation 0x1f domain 0x1f epoch
    73..88  16 bytes GCM tag of the KEK wrap, associated data as format 1 followed by 0x1f epoch
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import NoReturn

from cryptography.exceptions import InvalidTag

from .errors import DecryptionFailed, KeyRingError
from .keyring import KeyRing

KEY_BYTES = 32
_FORMAT = 1
_FORMAT_EPOCH = 2
_NONCE_BYTES = 12
_TAG_BYTES = 16
_WRAPPED_BYTES = 1 + _NONCE_BYTES + KEY_BYTES + _TAG_BYTES
_INNER_BYTES = _NONCE_BYTES + KEY_BYTES + _TAG_BYTES
_WRAPPED_EPOCH_BYTES = 1 + _NONCE_BYTES + _INNER_BYTES + _TAG_BYTES
_EPOCH_LABEL = b"brygga/dek-epoch/v1"
_MAX_KEK_VERSION = 2**32 - 1
_LABEL = b"brygga/dek/v1"
_SEP = b"\x1f"


class DataKey:
    """A 256-bit document key. Opaque: repr/str never show the bytes, and it does not pickle."""

    __slots__ = ("_material",)

    def __init__(self, material: bytes, /) -> None:
        """Wrap raw key bytes; callers use generate() or unwrap(). Raises ValueError unless 32 bytes."""
        material = bytes(material)
        if len(material) != KEY_BYTES:
            raise ValueError("a data key is 32 bytes")
        self._material = material

    @classmethod
    def generate(cls) -> DataKey:
        """A fresh random key for one document."""
        return cls(os.urandom(KEY_BYTES))

    def __repr__(self) -> str:
        return "DataKey(<secret>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        # Keeps a raw key out of caches, queues and pickled logs by accident.
        raise TypeError("DataKey is not picklable; store it wrapped")


def _material(key: DataKey) -> bytes:
    """The raw bytes of `key`; for crypto.stream's key derivation only."""
    if not isinstance(key, DataKey):
        raise TypeError("expected a DataKey")
    return key._material


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A DEK encrypted under KEK `kek_version` (and inside that under culling epoch `epoch`, if any); all three
    are stored with the document."""

    kek_version: int
    ciphertext: bytes
    epoch: str | None = None


@dataclass(frozen=True, slots=True)
class KeyBinding:
    """What a wrapped DEK is bound to: the associated data of the wrap."""

    document_id: uuid.UUID
    client_id: uuid.UUID
    organisation: str
    domain: str

    def __post_init__(self) -> None:
        if not isinstance(self.document_id, uuid.UUID) or not isinstance(self.client_id, uuid.UUID):
            raise TypeError("document_id and client_id must be uuid.UUID")
        for part in (self.organisation, self.domain):
            if not isinstance(part, str) or not part or "\x1f" in part:
                raise ValueError("organisation and domain must be non-empty strings without 0x1f")


def _associated_data(binding: KeyBinding, kek_version: int, epoch: str | None = None) -> bytes:
    parts = [_LABEL, binding.document_id.bytes, binding.client_id.bytes, binding.organisation.encode(),
             binding.domain.encode(), kek_version.to_bytes(4, "big")]
    if epoch is not None:
        parts.append(epoch.encode())
    return _SEP.join(parts)


def _epoch_associated_data(binding: KeyBinding, epoch: str) -> bytes:
    return _SEP.join([_EPOCH_LABEL, binding.document_id.bytes, binding.client_id.bytes, binding.organisation.encode(),
                      binding.domain.encode(), epoch.encode()])


def wrap(keyring: KeyRing, key: DataKey, *, binding: KeyBinding, epoch: str | None = None) -> WrappedKey:
    """Encrypt `key` under the newest KEK for exactly this document, client and zone; with `epoch`, first under
    that culling epoch's key (raises KeyRingError when the ring has no such epoch)."""
    version = keyring.current_kek_version
    if epoch is None:
        nonce = os.urandom(_NONCE_BYTES)
        body = keyring.kek_aead(version).encrypt(nonce, _material(key), _associated_data(binding, version))
        return WrappedKey(kek_version=version, ciphertext=bytes([_FORMAT]) + nonce + body)
    inner_nonce = os.urandom(_NONCE_BYTES)
    inner = inner_nonce + keyring.epoch_aead(epoch).encrypt(
        inner_nonce, _material(key), _epoch_associated_data(binding, epoch))
    nonce = os.urandom(_NONCE_BYTES)
    body = keyring.kek_aead(version).encrypt(nonce, inner, _associated_data(binding, version, epoch))
    return WrappedKey(kek_version=version, ciphertext=bytes([_FORMAT_EPOCH]) + nonce + body, epoch=epoch)


def _well_formed(wrapped: WrappedKey) -> bool:
    version, sealed, epoch = wrapped.kek_version, wrapped.ciphertext, wrapped.epoch
    if (isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= _MAX_KEK_VERSION
            or not isinstance(sealed, (bytes, bytearray, memoryview)) or not sealed):
        return False
    if epoch is None:
        return len(sealed) == _WRAPPED_BYTES and sealed[0] == _FORMAT
    return isinstance(epoch, str) and len(sealed) == _WRAPPED_EPOCH_BYTES and sealed[0] == _FORMAT_EPOCH


def unwrap(keyring: KeyRing, wrapped: WrappedKey, *, binding: KeyBinding) -> DataKey:
    """Decrypt a wrapped DEK; raises DecryptionFailed on any tamper, wrong binding, unknown KEK version or a
    culling epoch the ring no longer holds (destroyed: the document was culled)."""
    if not _well_formed(wrapped):
        raise DecryptionFailed()
    version, sealed, epoch = wrapped.kek_version, wrapped.ciphertext, wrapped.epoch
    try:
        aead = keyring.kek_aead(version)  # in memory, or a key in an HSM that unwraps inside it
        epoch_aead = None if epoch is None else keyring.epoch_aead(epoch)
    except KeyRingError:
        raise DecryptionFailed() from None
    nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
    try:
        opened = aead.decrypt(nonce, body, _associated_data(binding, version, epoch))
        if epoch_aead is not None and epoch is not None:
            opened = epoch_aead.decrypt(opened[:_NONCE_BYTES], opened[_NONCE_BYTES:], _epoch_associated_data(binding, epoch))
        return DataKey(opened)
    except InvalidTag:
        raise DecryptionFailed() from None


def re_epoch(keyring: KeyRing, wrapped: WrappedKey, *, binding: KeyBinding, epoch: str | None) -> WrappedKey:
    """Move a wrapped DEK to culling epoch `epoch` (None: no epoch, kept) under the newest KEK, when its file's due
    month moved; returns `wrapped` itself when nothing changes. Raises DecryptionFailed like unwrap."""
    key = unwrap(keyring, wrapped, binding=binding)
    if wrapped.epoch == epoch and wrapped.kek_version == keyring.current_kek_version:
        return wrapped
    return wrap(keyring, key, binding=binding, epoch=epoch)


def rewrap(keyring: KeyRing, wrapped: WrappedKey, *, binding: KeyBinding) -> WrappedKey:
    """Move a wrapped DEK to the newest KEK (for rotation); raises DecryptionFailed like unwrap.

    Always authenticates first, so a tampered key fails here rather than later;
    returns `wrapped` itself when it already uses the newest version.
    """
    key = unwrap(keyring, wrapped, binding=binding)
    if wrapped.kek_version == keyring.current_kek_version:
        return wrapped
    return wrap(keyring, key, binding=binding, epoch=wrapped.epoch)
