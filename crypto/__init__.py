"""Brygga's cryptography: a key ring, sealed fields and blind indexes (more in later modules).

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
