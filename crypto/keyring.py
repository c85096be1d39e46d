"""The key ring: versioned KEKs, the blind-index pepper and the audit signing key.

`KeyProvider` is the seam: the file provider here keeps keys in a JSON file
(mode 0600, written atomically); the PKCS#11 provider (crypto/pkcs11_provider.py) keeps
KEKs and culling-epoch keys in an HSM, where they wrap and unwrap and never leave. Callers
use a KEK or an epoch key only as an AEAD (`kek_aead`, `epoch_aead`: encrypt/decrypt with
a nonce crypto.envelope chooses), so both providers' wraps have one format. The newest KEK
version wraps and seals; older versions only unwrap and open.

File layout (JSON, every key base64):
    {"format": "brygga-keyring", "version": 1,
     "keks": [{"version": 1, "key": "...32 bytes...", "created_at": "..."}],
     "pepper": "...32 bytes...",
     "audit_signing_keys": [{"id": "audit-1", "private_key": "...32-byte Ed25519 seed...", "created_at": "..."}],
     "epochs": [{"id": "2031-12", "key": "...32 bytes...", "created_at": "..."}],
     "destroyed_epochs": [{"id": "2026-11", "destroyed_at": "..."}]}

Culling epochs (API-1.1 "Retention"; PDL 3:17 "destruction must reach copies and backups"): every data key of a
file that will be culled is wrapped inside its KEK wrap by the key of the month its file is due (crypto.envelope).
The epoch keys live here, outside the database and its backups; once every file of an epoch is culled,
`destroy_epoch` removes its key for good (and remembers its id, so it is never made again): from then on no
database backup opens those documents. `epochs` and `destroyed_epochs` are optional (older rings have none).
"""
from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import json
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import KeyRingError

FORMAT = "brygga-keyring"
FORMAT_VERSION = 1
KEY_BYTES = 32


class Aead(Protocol):
    """A key usable only as AES-256-GCM: AESGCM for a key in memory, an HSM's key object for one in a token.
    decrypt raises cryptography's InvalidTag on any failure."""

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


@functools.lru_cache(maxsize=64)
def _aead(key: bytes) -> AESGCM:
    """The AEAD of a key in memory, made once: every download unwraps its data key under one of a few KEKs."""
    return AESGCM(key)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Loaded keys; validated on construction so a bad ring fails at start-up, not mid-request.

    `keks` and `epochs` are keys in memory (the file's); `token_keks` and `token_epochs` are keys held in an HSM,
    usable only through it, with `token_field_keys` the field keys derived inside it for its KEK versions.
    """

    keks: dict[int, bytes]
    pepper: bytes
    audit_key_id: str
    audit_signing_key: Ed25519PrivateKey
    older_audit_keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)  # checkpoints signed before a rotation
    epochs: dict[str, bytes] = field(default_factory=dict)  # culling epoch "YYYY-MM" -> its key
    destroyed_epochs: frozenset[str] = frozenset()
    token_keks: Mapping[int, Aead] = field(default_factory=dict)
    token_epochs: Mapping[str, Aead] = field(default_factory=dict)
    token_field_keys: Mapping[int, bytes] = field(default_factory=dict)
    keks_elsewhere: bool = False  # the file's: its KEKs all moved into an HSM ("keks_in_hsm")

    def __post_init__(self) -> None:
        if not self.keks and not self.token_keks and not self.keks_elsewhere:
            raise KeyRingError("key ring has no key-encryption key")
        for version, key in self.keks.items():
            if version < 1 or len(key) != KEY_BYTES:
                raise KeyRingError(f"key-encryption key version {version} is not a 256-bit key")
        if len(self.pepper) != KEY_BYTES:
            raise KeyRingError("blind-index pepper is not 256 bits")
        for epoch, key in self.epochs.items():
            if not _is_epoch(epoch) or len(key) != KEY_BYTES:
                raise KeyRingError(f"culling epoch {epoch!r} is not a YYYY-MM id with a 256-bit key")

    @property
    def audit_public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every audit checkpoint verification key by id, the signing key's included."""
        return {**self.older_audit_keys, self.audit_key_id: self.audit_signing_key.public_key()}

    @property
    def kek_versions(self) -> frozenset[int]:
        """Every KEK version the ring holds, in memory or in a token."""
        return frozenset(self.keks) | frozenset(self.token_keks)

    def holds(self, kek_version: int, epoch: str | None) -> bool:
        """Whether the ring holds KEK `kek_version` and (unless None) culling epoch `epoch`: kek_versions and
        epoch_ids without building their sets (asked on every download)."""
        return ((kek_version in self.keks or kek_version in self.token_keks)
                and (epoch is None or epoch in self.epochs or epoch in self.token_epochs))

    @property
    def epoch_ids(self) -> frozenset[str]:
        """Every culling epoch the ring holds a key of, in memory or in a token."""
        return frozenset(self.epochs) | frozenset(self.token_epochs)

    @property
    def current_kek_version(self) -> int:
        return max(self.kek_versions, default=0)

    def kek_aead(self, version: int) -> Aead:
        """KEK `version` as an AEAD; raises KeyRingError when the ring does not hold it."""
        held = self.token_keks.get(version)
        return held if held is not None else _aead(self.kek(version))

    def epoch_aead(self, epoch: str) -> Aead:
        """Culling epoch `epoch`'s key as an AEAD; raises KeyRingError when the ring does not hold it (destroyed)."""
        held = self.token_epochs.get(epoch)
        return held if held is not None else _aead(self.epoch_key(epoch))

    def field_key(self, version: int) -> bytes:
        """The field-sealing key of KEK `version` (crypto.fields): HKDF of a KEK in memory, or derived inside the
        token for one held there; raises KeyRingError when the ring does not hold the version."""
        derived = self.token_field_keys.get(version)
        if derived is not None:
            return derived
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"brygga field key v1").derive(self.kek(version))

    def epoch_key(self, epoch: str) -> bytes:
        """The key of culling epoch `epoch`; raises KeyRingError when the ring does not hold it (destroyed)."""
        try:
            return self.epochs[epoch]
        except KeyError:
            raise KeyRingError(f"key ring has no culling epoch {epoch}") from None

    def kek(self, version: int) -> bytes:
        """The KEK of `version`; raises KeyRingError when the ring does not hold it."""
        try:
            return self.keks[version]
        except KeyError:
            raise KeyRingError(f"key ring has no key-encryption key version {version}") from None


class KeyProvider(Protocol):
    """Where the key ring comes from (a file now; Vault or a KMS later)."""

    def load(self) -> KeyRing:
        """Load and validate the ring; raises KeyRingError with a reason an operator can act on."""
        ...

    def ensure_epoch(self, epoch: str) -> KeyRing:
        """The ring with culling epoch `epoch` in it, made if new; KeyRingError for one destroyed before."""
        ...

    def destroy_epoch(self, epoch: str) -> bool:
        """Remove culling epoch `epoch`'s key for good; False when the ring did not hold it."""
        ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise KeyRingError(f"key ring: {what} is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise KeyRingError(f"key ring: {what} is not valid base64") from None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class FileKeyProvider:
    """A key ring in one JSON file, mode 0600, replaced atomically on every change."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> KeyRing:
        """Read the ring; raises KeyRingError when missing, readable by others, or malformed, or when its KEKs
        have all moved into an HSM (then only the PKCS#11 provider, which reads this file too, can load it)."""
        ring = _parse(self._read())
        if not ring.keks:
            raise KeyRingError(f"key ring {self.path} keeps its KEKs in an HSM: set BRYGGA_PKCS11_MODULE, "
                               "BRYGGA_PKCS11_TOKEN and BRYGGA_PKCS11_PIN_FILE")
        return ring

    def load_beside_token(self) -> KeyRing:
        """The ring as the PKCS#11 provider reads it: with no KEK of its own once every one moved to the token."""
        return _parse(self._read())

    def init(self) -> KeyRing:
        """Create a new ring; raises KeyRingError if the file exists (never overwrite keys, not even in a race)."""
        document = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "keks": [{"version": 1, "key": _b64(secrets.token_bytes(KEY_BYTES)), "created_at": _now()}],
            "pepper": _b64(secrets.token_bytes(KEY_BYTES)),
            "audit_signing_keys": [{"id": "audit-1", "private_key": _b64(secrets.token_bytes(KEY_BYTES)), "created_at": _now()}],
        }
        with self._locked():
            if self.path.exists():
                raise KeyRingError(f"key ring {self.path} already exists; refusing to overwrite it")
            self._write(document, replace=False)
        return _parse(document)

    def rotate(self) -> int:
        """Add a new KEK version (which then wraps and seals); returns it.

        Read, add and write happen under an exclusive lock: two rotations at once would otherwise both add
        version n+1, and data keys wrapped under the one that lost would never open again.
        """
        with self._locked():
            document = self._read()
            ring = _parse(document)
            version = ring.current_kek_version + 1
            document["keks"].append({"version": version, "key": _b64(secrets.token_bytes(KEY_BYTES)), "created_at": _now()})
            self._write(document)
        return version

    def ensure_epoch(self, epoch: str) -> KeyRing:
        """The ring with culling epoch `epoch` in it, adding a new random key when it has none; raises
        KeyRingError for an ill-formed id or one destroyed before (its documents are gone: never again)."""
        if not _is_epoch(epoch):
            raise KeyRingError(f"culling epoch {epoch!r} is not YYYY-MM")
        with self._locked():
            document = self._read()
            ring = _parse(document)
            if epoch in ring.epochs:
                return ring
            if epoch in ring.destroyed_epochs:
                raise KeyRingError(f"culling epoch {epoch} was destroyed; it is never made again")
            document.setdefault("epochs", []).append(
                {"id": epoch, "key": _b64(secrets.token_bytes(KEY_BYTES)), "created_at": _now()})
            self._write(document)
            return _parse(document)

    def destroy_epoch(self, epoch: str, *, held_elsewhere: bool = False) -> bool:
        """Remove culling epoch `epoch`'s key from the ring for good (the file is rewritten, fsynced); False when
        the ring did not hold it. The caller checks first that nothing still needs it. `held_elsewhere`: its key
        was in an HSM (destroyed there by the caller), so the ring records it destroyed even without a key here."""
        with self._locked():
            document = self._read()
            kept = [entry for entry in document.get("epochs", []) if entry.get("id") != epoch]
            if len(kept) == len(document.get("epochs", [])) and not held_elsewhere:
                return False
            document["epochs"] = kept
            document.setdefault("destroyed_epochs", []).append({"id": epoch, "destroyed_at": _now()})
            self._write(document)
            return True

    def retire(self, version: int, *, newer_elsewhere: bool = False) -> None:
        """Remove KEK `version` from the ring: what it wrapped or sealed never opens again, here or from a backup.

        Raises KeyRingError for a version the ring lacks and for the newest (it wraps and seals new data).
        Whether anything still needs it is the caller's to check first (service/domain/keys.py retire): the
        ring knows nothing of the database. Read, remove and write happen under the same lock as rotate.
        """
        with self._locked():
            document = self._read()
            ring = _parse(document)
            if version not in ring.keks:
                raise KeyRingError(f"key ring has no key-encryption key version {version}")
            if version == ring.current_kek_version and not newer_elsewhere:
                raise KeyRingError(f"key-encryption key version {version} is the newest; it cannot be retired")
            document["keks"] = [entry for entry in document["keks"] if int(entry["version"]) != version]
            if not document["keks"]:
                document["keks_in_hsm"] = True  # newer_elsewhere: the PKCS#11 provider's token holds the newest
            self._write(document)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on the ring's directory, for changes (readers need none: writes are atomic).

        The directory, not a lock file beside the ring: nothing is left behind, and the ring's own file
        is replaced by every change, so a lock on it would not hold across one.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _read(self) -> dict[str, Any]:
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            raise KeyRingError(f"key ring {self.path} does not exist; create one with `python -m service keys init`") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyRingError(f"key ring {self.path} has mode {stat.S_IMODE(mode):04o}; it must be 0600 (chmod 600 {self.path})")
        try:
            document = json.loads(self.path.read_bytes())
        except (OSError, ValueError) as exc:
            raise KeyRingError(f"key ring {self.path} cannot be read: {type(exc).__name__}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT or document.get("version") != FORMAT_VERSION:
            raise KeyRingError(f"key ring {self.path} is not a {FORMAT} version {FORMAT_VERSION} file")
        return document

    def _write(self, document: dict[str, Any], *, replace: bool = True) -> None:
        try:
            write_private(self.path, json.dumps(document, indent=2).encode(), replace=replace)
        except FileExistsError:
            raise KeyRingError(f"key ring {self.path} already exists; refusing to overwrite it") from None


def write_private(path: Path, data: bytes, *, replace: bool) -> None:
    """Write `data` to `path` (mode 0600) whole or not at all, even on a full disk or a crash.

    A temporary file beside it is written and fsynced, then renamed over `path` (`replace`) or linked
    to its name, which raises FileExistsError rather than overwrite a file that appeared meanwhile;
    the directory is fsynced so the name survives a crash too.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if not replace:
        Path(tmp).unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _is_epoch(epoch: object) -> bool:
    """A culling epoch's id: a month, YYYY-MM."""
    return (isinstance(epoch, str) and len(epoch) == 7 and epoch[4] == "-" and epoch[:4].isdigit()
            and epoch[5:].isdigit() and 1 <= int(epoch[5:]) <= 12)


def _parse(document: dict[str, Any]) -> KeyRing:
    try:
        keks = {int(entry["version"]): _unb64(entry["key"], f"kek {entry['version']}") for entry in document["keks"]}
        audit = document["audit_signing_keys"][-1]
        seed = _unb64(audit["private_key"], "audit signing key")
        older = {
            str(entry["id"]): Ed25519PrivateKey.from_private_bytes(_unb64(entry["private_key"], "audit signing key")).public_key()
            for entry in document["audit_signing_keys"][:-1]
        }
        return KeyRing(
            keks=keks,
            pepper=_unb64(document["pepper"], "pepper"),
            audit_key_id=str(audit["id"]),
            audit_signing_key=Ed25519PrivateKey.from_private_bytes(seed),
            older_audit_keys=older,
            epochs={str(entry["id"]): _unb64(entry["key"], f"culling epoch {entry['id']}")
                    for entry in document.get("epochs", [])},
            destroyed_epochs=frozenset(str(entry["id"]) for entry in document.get("destroyed_epochs", [])),
            keks_elsewhere=document.get("keks_in_hsm") is True,
        )
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise KeyRingError(f"key ring has a bad shape: {type(exc).__name__} {exc}") from None
