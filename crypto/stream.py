"""Segmented streaming AEAD for document content (after Tink's AES-GCM-HKDF streaming AEAD).

A document's plaintext is cut into segments, each sealed on its own with
AES-256-GCM, so a document of any size is encrypted and decrypted in bounded
memory and a download can start before the whole document is read. Each
segment's nonce names its position and whether it is the final segment, so
changed, reordered, moved, dropped or appended segments do not authenticate.

Format (integers big-endian; document_id is the 16 bytes of uuid.UUID.bytes):

Per document
    dek           the document's 32-byte data key (crypto.envelope.DataKey)
    salt          16 random bytes
    nonce_prefix  7 random bytes
    content key   HKDF-SHA256(ikm=dek, salt=salt,
                              info=b"brygga/stream/v1" || document_id, length=32),
                  used as an AES-256-GCM key
    header        28 bytes, stored once per document next to its wrapped DEK:
                      0       1 byte   format version, 0x01
                      1..4    4 bytes  segment_size, plaintext bytes per segment,
                                       1..16 MiB (default 65536)
                      5..20   16 bytes salt
                      21..27  7 bytes  nonce_prefix

Segment i, for i = 0, 1, ..., n-1 (n <= 2**32)
    nonce            nonce_prefix || i (4 bytes) || 0x01 if i == n-1 else 0x00   (12 bytes)
    associated data  header (28 bytes) || document_id (16 bytes)
    plaintext        exactly segment_size bytes for every segment but the last;
                     1..segment_size bytes for the last
    ciphertext       AES-256-GCM(content key, nonce, plaintext, associated data)
                     = encrypted plaintext || 16-byte tag, so plaintext size + 16

A document of `size` bytes (size >= 1: empty documents are refused) has
n = ceil(size / segment_size) segments and size + 16 * n bytes of ciphertext;
the segments are stored by index. The header is authenticated (it is in every
segment's associated data, and its salt and prefix feed the key and nonces).
Decryption yields authentic plaintext segment by segment; a document is known
complete, not truncated, only once its final segment has authenticated.
"""
from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .envelope import DataKey, _material
from .errors import DecryptionFailed

_FORMAT = 1
_HEADER = struct.Struct(">BI16s7s")

SEGMENT_SIZE = 65536
TAG_SIZE = 16
HEADER_SIZE = _HEADER.size  # 28
MAX_SEGMENT_SIZE = 16 * 1024 * 1024
_POSITION = struct.Struct(">IB")
_SALT_BYTES = 16
_PREFIX_BYTES = 7
_MAX_SEGMENTS = 2**32
_INFO = b"brygga/stream/v1"


def _document_bytes(document_id: uuid.UUID) -> bytes:
    if not isinstance(document_id, uuid.UUID):
        raise TypeError("document_id must be a uuid.UUID")
    return document_id.bytes


_SHA256 = hashes.SHA256()  # stateless: one for every derivation (a new one cost a microsecond a download)


def _content_aead(key: DataKey, salt: bytes, document: bytes) -> AESGCM:
    derived = HKDF(algorithm=_SHA256, length=32, salt=salt, info=_INFO + document).derive(_material(key))
    return AESGCM(derived)


class StreamEncryptor:
    """Encrypts one document's content segment by segment; callers never see a nonce."""

    def __init__(self, key: DataKey, *, document_id: uuid.UUID, segment_size: int = SEGMENT_SIZE) -> None:
        """Start a document with a fresh salt and nonce prefix; ValueError on a segment size outside 1..16 MiB."""
        if isinstance(segment_size, bool) or not isinstance(segment_size, int) or not 1 <= segment_size <= MAX_SEGMENT_SIZE:
            raise ValueError(f"segment_size must be 1..{MAX_SEGMENT_SIZE}")
        document = _document_bytes(document_id)
        salt, prefix = os.urandom(_SALT_BYTES), os.urandom(_PREFIX_BYTES)
        self._header = _HEADER.pack(_FORMAT, segment_size, salt, prefix)
        self._aead = _content_aead(key, salt, document)
        self._aad = self._header + document
        self._prefix = prefix
        self._segment_size = segment_size
        self._index = 0
        self._finished = False

    @property
    def header(self) -> bytes:
        """The 28-byte header to store with the document; decryption needs it."""
        return self._header

    @property
    def segment_size(self) -> int:
        return self._segment_size

    @property
    def segments_written(self) -> int:
        return self._index

    def encrypt_segment(self, plaintext: bytes, *, last: bool) -> bytes:
        """Encrypt the next segment (bytes-like plaintext).

        Raises ValueError if a non-last segment is not exactly segment_size bytes,
        if the last one is empty or larger, or after the last segment.
        """
        size = len(plaintext)
        if last:
            if not 1 <= size <= self._segment_size:
                raise ValueError(f"the last segment must hold 1..{self._segment_size} bytes, not {size}")
        elif size != self._segment_size:
            raise ValueError(f"a segment before the last must hold exactly {self._segment_size} bytes, not {size}")
        return self._seal(plaintext, bool(last))

    def _seal(self, plaintext: bytes | memoryview, last: bool) -> bytes:
        # The Segmenter calls this directly (with views into its chunks): it has already checked the size.
        if self._finished:
            raise ValueError("the last segment has already been written")
        index = self._index
        if index >= _MAX_SEGMENTS:
            raise ValueError("a document has at most 2**32 segments")
        ciphertext = self._aead.encrypt(self._prefix + _POSITION.pack(index, last), plaintext, self._aad)
        self._index = index + 1
        self._finished = last
        return ciphertext


class StreamDecryptor:
    """Decrypts one document's segments, in any order, given each one's index and whether it is last."""

    def __init__(self, key: DataKey, *, document_id: uuid.UUID, header: bytes) -> None:
        """Raises DecryptionFailed on a malformed header (length, version, segment size 0 or over 16 MiB)."""
        document = _document_bytes(document_id)
        header = bytes(memoryview(header))
        if len(header) != HEADER_SIZE:
            raise DecryptionFailed()
        fmt, segment_size, salt, prefix = _HEADER.unpack(header)
        if fmt != _FORMAT or not 1 <= segment_size <= MAX_SEGMENT_SIZE:
            raise DecryptionFailed()
        self._aead = _content_aead(key, salt, document)
        self._aad = header + document
        self._prefix = prefix
        self._segment_size: int = segment_size

    @property
    def segment_size(self) -> int:
        """Plaintext bytes per segment, from the header (a non-last ciphertext segment is this + 16)."""
        return self._segment_size

    def decrypt_segment(self, index: int, ciphertext: bytes, *, last: bool) -> bytes:
        """Plaintext of segment `index`; raises DecryptionFailed on any size or authentication failure."""
        size = len(ciphertext)
        if last:
            if not TAG_SIZE < size <= self._segment_size + TAG_SIZE:
                raise DecryptionFailed()
        elif size != self._segment_size + TAG_SIZE:
            raise DecryptionFailed()
        if not 0 <= index < _MAX_SEGMENTS:
            raise DecryptionFailed()
        nonce = self._prefix + _POSITION.pack(index, 1 if last else 0)
        try:
            return self._aead.decrypt(nonce, ciphertext, self._aad)
        except InvalidTag:
            raise DecryptionFailed() from None


def decrypt_all(decryptor: StreamDecryptor, segments: Iterable[bytes]) -> Iterator[bytes]:
    """Yield plaintext per segment, in order, marking only the final one as last (one-segment lookahead).

    Raises DecryptionFailed when any segment fails, including a truncated or
    extended document and no segments at all; until the iterator is exhausted
    without error, the plaintext so far may be a truncated document.
    """
    iterator = iter(segments)
    try:
        pending = next(iterator)
    except StopIteration:
        raise DecryptionFailed() from None
    index = 0
    for following in iterator:
        yield decryptor.decrypt_segment(index, pending, last=False)
        index += 1
        pending = following
    yield decryptor.decrypt_segment(index, pending, last=True)


class Segmenter:
    """Turns arbitrary-size chunks of plaintext into encrypted segments as they arrive.

    feed(chunk) returns the encrypted segments that are complete and known not to
    be last: up to one segment of plaintext is held back until more data follows
    or finish() seals it as the last. Plaintext is copied only when a segment
    straddles chunks: full segments inside a chunk are encrypted straight from it,
    and a held-back tail is kept by reference when its chunk is an immutable
    `bytes` of at most one segment (so a stream of segment_size `bytes` chunks is
    never copied), else copied into one segment_size buffer. Either way the
    Segmenter holds at most 2 x segment_size bytes of plaintext.
    """

    def __init__(self, encryptor: StreamEncryptor) -> None:
        self._seal = encryptor._seal  # sizes are checked here, so skip encrypt_segment's checks
        self._size = encryptor.segment_size
        self._buffer = bytearray(self._size)
        self._view = memoryview(self._buffer)
        self._fill = 0  # plaintext held back in the buffer
        self._held: memoryview | None = None  # or held back by reference (then the buffer is empty)
        self._total = 0
        self._finished = False

    @property
    def plaintext_bytes(self) -> int:
        """Plaintext bytes fed so far."""
        return self._total

    def feed(self, chunk: bytes) -> list[bytes]:
        """Take the next chunk (bytes-like, any size); returns the segments now complete. ValueError after finish()."""
        if self._finished:
            raise ValueError("the segmenter is finished")
        view = memoryview(chunk)
        if view.format != "B" or view.ndim != 1 or not view.c_contiguous:
            view = view.cast("B")  # unsigned bytes; TypeError if not contiguous
        length = len(view)
        if not length:
            return []
        self._total += length
        size, seal = self._size, self._seal
        segments: list[bytes] = []
        held = self._held
        if held is not None:
            self._held = None
            if len(held) == size:
                segments.append(seal(held, False))  # full, and more data follows
            else:
                self._view[: len(held)] = held
                self._fill = len(held)
            del held
        offset = 0
        fill = self._fill
        if fill:
            offset = min(size - fill, length)
            self._view[fill : fill + offset] = view[:offset]
            if offset == length:
                self._fill = fill + offset
                return segments  # nothing follows the buffer yet: it may be the last segment
            segments.append(seal(self._view, False))  # full, and more data follows
            self._fill = 0
        while length - offset > size:
            segments.append(seal(view[offset : offset + size], False))
            offset += size
        # 1..size bytes remain: hold them back until more data follows.
        source = view.obj
        if type(source) is bytes and len(source) <= size:
            self._held = view[offset:] if offset else view
        else:
            self._fill = length - offset
            self._view[: self._fill] = view[offset:]
        return segments

    def finish(self) -> list[bytes]:
        """Encrypt what remains as the last segment; ValueError if nothing was fed or already finished."""
        if self._finished:
            raise ValueError("the segmenter is finished")
        if not self._total:
            raise ValueError("nothing to encrypt: empty documents are not supported")
        remaining = self._held if self._held is not None else self._view[: self._fill]
        segment = self._seal(remaining, True)
        del remaining
        self._finished = True
        self._held = None
        self._view.release()
        self._buffer = bytearray()
        self._fill = 0
        return [segment]
