"""The few errors crypto/ raises; tamper and format failures are one opaque error."""


class CryptoError(Exception):
    """Base of every crypto/ error."""


class DecryptionFailed(CryptoError):
    """Ciphertext, associated data or key did not authenticate; never says which."""

    def __init__(self) -> None:
        super().__init__("decryption failed")


class KeyRingError(CryptoError):
    """The key ring is missing, unreadable, has a wrong mode or a bad shape."""
