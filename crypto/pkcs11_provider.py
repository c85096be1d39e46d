"""A KeyProvider whose KEKs and culling-epoch keys live in an HSM, through PKCS#11 (python-pkcs11).

The keys are made inside the token (AES-256, CKA_SENSITIVE, not CKA_EXTRACTABLE, token objects) and never leave
it: crypto.envelope wraps and unwraps data keys with them through the token's AES-GCM (CKM_AES_GCM with the nonce
and associated data envelope chooses, so a wrap has the same bytes as under the file provider, and rewrapping
moves keys across providers). Objects, by label:

    brygga-kek-<version>     a KEK: wraps (format 1 and the outer layer of format 2)
    brygga-fields-<version>  its field-key source: the field key of that version (crypto.fields) is derived in the
                             token, SP 800-108 counter mode with AES-CMAC as the PRF, and kept in memory like a
                             data key (sealing a name per HSM round trip would make every list as slow as the HSM)
    brygga-epoch-<YYYY-MM>   a culling epoch's key: the inner layer of format 2; `destroy_epoch` destroys it

The key ring file (BRYGGA_KEYRING) stays: it holds the blind-index pepper, the audit signing keys, the list of
destroyed epochs (so none is made again), and, while moving from a file ring to the HSM, the file's older KEKs
and epochs, which still unwrap and open what they wrapped until `keys rewrap` and `keys reseal` have moved it and
`keys retire` removed them. The newest KEK must be the token's: `keys rotate` makes one there.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag

from .errors import KeyRingError
from .keyring import FileKeyProvider, KeyRing, _is_epoch

_KEK = "brygga-kek-"
_FIELDS = "brygga-fields-"
_EPOCH = "brygga-epoch-"
_FIELD_LABEL = b"brygga field key v1"


class TokenAead:
    """An AES key inside the token, used as AES-256-GCM there; the same interface as cryptography's AESGCM."""

    def __init__(self, key: Any, lock: threading.Lock) -> None:
        self._key = key
        self._lock = lock  # one session: one operation at a time (the event loop, and threads making epochs)

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        import pkcs11

        with self._lock:
            result: bytes = self._key.encrypt(bytes(data), mechanism=pkcs11.Mechanism.AES_GCM,
                                              mechanism_param=pkcs11.GCMParams(bytes(nonce), associated_data))
        return result

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        import pkcs11

        try:
            with self._lock:
                result: bytes = self._key.decrypt(bytes(data), mechanism=pkcs11.Mechanism.AES_GCM,
                                                  mechanism_param=pkcs11.GCMParams(bytes(nonce), associated_data))
        except pkcs11.PKCS11Error:
            raise InvalidTag() from None  # tokens report a failed tag as a general error
        return result


class Pkcs11KeyProvider:
    """KEKs and epoch keys in a PKCS#11 token; everything else of the ring in the file provider's file."""

    def __init__(self, file: FileKeyProvider, *, module: str | os.PathLike[str], token_label: str, pin: str) -> None:
        self.file = file
        self.module = str(module)
        self.token_label = token_label
        self._pin = pin
        self._session: Any = None
        self._lock = threading.Lock()

    def _open(self) -> Any:
        """The session, opened once (logged in as the token's user); KeyRingError naming what is wrong."""
        if self._session is None:
            try:
                import pkcs11
            except ImportError:
                raise KeyRingError("BRYGGA_PKCS11_MODULE: python-pkcs11 is not installed") from None
            try:
                token = pkcs11.lib(self.module).get_token(token_label=self.token_label)
                try:
                    self._session = token.open(user_pin=self._pin, rw=True)
                except pkcs11.UserAlreadyLoggedIn:  # a login is the process's, shared by its sessions
                    self._session = token.open(rw=True)
            except (pkcs11.PKCS11Error, RuntimeError) as exc:
                raise KeyRingError(f"BRYGGA_PKCS11_TOKEN: cannot open token {self.token_label!r} with the PIN "
                                   f"given through {self.module}: {type(exc).__name__}") from None
        return self._session

    def _keys(self) -> dict[str, Any]:
        """The token's secret keys by label (Brygga's only)."""
        import pkcs11

        session = self._open()
        with self._lock:
            found = {str(key.label): key for key in session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY})}
        return {label: key for label, key in found.items() if label.startswith(("brygga-",))}

    def _generate(self, label: str, *, sign: bool = False) -> None:
        """A new AES-256 key inside the token that never leaves it."""
        import pkcs11

        session = self._open()
        template = {pkcs11.Attribute.SENSITIVE: True, pkcs11.Attribute.EXTRACTABLE: False,
                    pkcs11.Attribute.TOKEN: True, pkcs11.Attribute.PRIVATE: True,
                    pkcs11.Attribute.ENCRYPT: not sign, pkcs11.Attribute.DECRYPT: not sign,
                    pkcs11.Attribute.SIGN: sign, pkcs11.Attribute.VERIFY: sign,
                    pkcs11.Attribute.WRAP: False, pkcs11.Attribute.UNWRAP: False}
        with self._lock:
            session.generate_key(pkcs11.KeyType.AES, 256, label=label, store=True, template=template)

    def _field_key(self, source: Any) -> bytes:
        """SP 800-108 counter-mode KDF, AES-CMAC as the PRF: two 16-byte blocks, inside the token."""
        import pkcs11

        with self._lock:
            return b"".join(source.sign(bytes([counter]) + _FIELD_LABEL + b"\x00" + (256).to_bytes(2, "big"),
                                        mechanism=pkcs11.Mechanism.AES_CMAC) for counter in (1, 2))

    def load(self) -> KeyRing:
        """The file's ring with the token's KEKs and epoch keys beside its own; KeyRingError when the newest KEK is
        not the token's (run `keys rotate`), or a token's KEK lacks its field-key source."""
        ring = self.file.load_beside_token()
        keys = self._keys()
        token_keks, field_keys, token_epochs = {}, {}, {}
        for label, key in keys.items():
            if label.startswith(_KEK) and label[len(_KEK):].isdigit():
                version = int(label[len(_KEK):])
                source = keys.get(f"{_FIELDS}{version}")
                if source is None:
                    raise KeyRingError(f"HSM token {self.token_label!r}: KEK {version} has no {_FIELDS}{version}")
                token_keks[version] = TokenAead(key, self._lock)
                field_keys[version] = self._field_key(source)
            elif label.startswith(_EPOCH) and _is_epoch(label[len(_EPOCH):]):
                epoch = label[len(_EPOCH):]
                if epoch not in ring.destroyed_epochs:
                    token_epochs[epoch] = TokenAead(key, self._lock)
        if not token_keks or max(token_keks) <= max(ring.keks, default=0):
            raise KeyRingError(f"HSM token {self.token_label!r} holds no KEK newer than the key ring file's: "
                               "run `python -m service keys rotate` to make one in the token")
        return KeyRing(keks=ring.keks, pepper=ring.pepper, audit_key_id=ring.audit_key_id,
                       audit_signing_key=ring.audit_signing_key, older_audit_keys=ring.older_audit_keys,
                       epochs=ring.epochs, destroyed_epochs=ring.destroyed_epochs, token_keks=token_keks,
                       token_epochs=token_epochs, token_field_keys=field_keys)

    def rotate(self) -> int:
        """A new KEK version made in the token (with its field-key source); returns it. The ring file is touched
        so that every replica's KeyRingHolder reloads."""
        with self.file._locked():
            versions = {int(label[len(_KEK):]) for label in self._keys() if label.startswith(_KEK)}
            version = max(versions | set(self.file.load_beside_token().keks)) + 1
            self._generate(f"{_FIELDS}{version}", sign=True)
            self._generate(f"{_KEK}{version}")
            os.utime(self.file.path)
        return version

    def ensure_epoch(self, epoch: str) -> KeyRing:
        """The ring with culling epoch `epoch` in it, its key made in the token if new; KeyRingError for an
        ill-formed id or one destroyed before."""
        if not _is_epoch(epoch):
            raise KeyRingError(f"culling epoch {epoch!r} is not YYYY-MM")
        with self.file._locked():  # two processes on this machine make one key, not two under one label
            ring = self.load()
            if epoch in ring.epoch_ids:
                return ring
            if epoch in ring.destroyed_epochs:
                raise KeyRingError(f"culling epoch {epoch} was destroyed; it is never made again")
            self._generate(f"{_EPOCH}{epoch}")
            os.utime(self.file.path)
        return self.load()

    def destroy_epoch(self, epoch: str) -> bool:
        """Destroy culling epoch `epoch`'s key in the token (and a key of it left in the file), and record it
        destroyed in the ring file; False when neither held it."""
        with self.file._locked():
            held = [key for label, key in self._keys().items() if label == f"{_EPOCH}{epoch}"]
            with self._lock:
                for key in held:
                    key.destroy()
        return self.file.destroy_epoch(epoch, held_elsewhere=bool(held))

    def retire(self, version: int) -> None:
        """Destroy KEK `version` (the token's, or the file's from before the move); KeyRingError for the newest
        and for one neither holds."""
        ring = self.load()
        if version == ring.current_kek_version:
            raise KeyRingError(f"key-encryption key version {version} is the newest; it cannot be retired")
        if version in ring.token_keks:
            with self.file._locked():
                keys = self._keys()
                with self._lock:
                    for label in (f"{_KEK}{version}", f"{_FIELDS}{version}"):
                        keys[label].destroy()
                os.utime(self.file.path)
            return
        self.file.retire(version, newer_elsewhere=True)


def read_pin(path: Path) -> str:
    """The token user's PIN from a file (mode 0600, like the ring): never an environment variable, which every
    child process and /proc/<pid>/environ would show."""
    mode = path.stat().st_mode
    if mode & 0o077:
        raise KeyRingError(f"BRYGGA_PKCS11_PIN_FILE {path} has mode {mode & 0o777:04o}; it must be 0600")
    return path.read_text().strip()
