"""Brygga's cryptography behind a handful of verbs.

- keyring: versioned KEKs, the blind-index pepper and the audit signing key (KeyProvider seam)
- fields: seal/open small fields bound to record and field; blind index; content MAC
- envelope: per-document data keys, wrapped under the newest KEK, bound to document, client and zone
- stream: segmented AES-256-GCM for document content

Callers never see a nonce or choose a key: they name what a ciphertext belongs
to (associated data) and get bytes back, or DecryptionFailed.
"""
from .errors import CryptoError, DecryptionFailed, KeyRingError
from .fields import FieldSealer
from .keyring import FileKeyProvider, KeyProvider, KeyRing

__all__ = [
    "CryptoError",
    "DecryptionFailed",
    "FieldSealer",
    "FileKeyProvider",
    "KeyProvider",
    "KeyRing",
    "KeyRingError",
]
