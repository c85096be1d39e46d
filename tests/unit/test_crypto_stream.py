"""Tests for crypto.stream: segmented streaming AEAD for document content.

Real keys and real AES-GCM throughout; small segment sizes (64, 1000) keep the
edge cases cheap, and the default size is exercised too.
"""
from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable

import pytest

from crypto.envelope import DataKey
from crypto.errors import DecryptionFailed
from crypto.stream import (
    HEADER_SIZE,
    MAX_SEGMENT_SIZE,
    SEGMENT_SIZE,
    TAG_SIZE,
    Segmenter,
    StreamDecryptor,
    StreamEncryptor,
    decrypt_all,
)

GENERIC_MESSAGE = "decryption failed"
SEGMENT_SIZES = [64, 1000, SEGMENT_SIZE]


# --------------------------------------------------------------------------- helpers


class Document:
    """One encrypted document: what is stored (header, segments) and what opens it."""

    def __init__(self, plaintext: bytes, *, segment_size: int = 64, key: DataKey | None = None,
                 document_id: uuid.UUID | None = None) -> None:
        self.plaintext = plaintext
        self.key = key or DataKey.generate()
        self.document_id = document_id or uuid.uuid4()
        encryptor = StreamEncryptor(self.key, document_id=self.document_id, segment_size=segment_size)
        pieces = [plaintext[i : i + segment_size] for i in range(0, len(plaintext), segment_size)]
        self.segments = [encryptor.encrypt_segment(piece, last=i == len(pieces) - 1) for i, piece in enumerate(pieces)]
        assert encryptor.segments_written == len(pieces)
        self.header = encryptor.header
        self.segment_size = segment_size

    def decryptor(self, *, key: DataKey | None = None, document_id: uuid.UUID | None = None,
                  header: bytes | None = None) -> StreamDecryptor:
        return StreamDecryptor(key or self.key, document_id=document_id or self.document_id,
                               header=self.header if header is None else header)

    def decrypt(self, segments: list[bytes] | None = None, **kwargs) -> bytes:
        return b"".join(decrypt_all(self.decryptor(**kwargs), self.segments if segments is None else segments))


def flip(data: bytes, position: int, bit: int = 0) -> bytes:
    changed = bytearray(data)
    changed[position] ^= 1 << bit
    return bytes(changed)


def assert_fails(attempt: Callable[[], object]) -> None:
    with pytest.raises(DecryptionFailed) as excinfo:
        attempt()
    assert str(excinfo.value) == GENERIC_MESSAGE
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__context__ is None or excinfo.value.__suppress_context__


def expected_segments(size: int, segment_size: int) -> int:
    return -(-size // segment_size)


def sizes_for(segment_size: int) -> list[int]:
    rng = random.Random(segment_size)
    edges = [1, segment_size - 1, segment_size, segment_size + 1, 3 * segment_size]
    return [size for size in edges if size > 0] + [rng.randint(1, 7 * segment_size + 3) for _ in range(10)]


def segmenter_run(data: bytes, segment_size: int, chunk_sizes: Callable[[], int], *, wrap=bytes):
    """Feed `data` in chunks; returns (document parts, segments), checking the hold-back bound after each feed."""
    key, document_id = DataKey.generate(), uuid.uuid4()
    encryptor = StreamEncryptor(key, document_id=document_id, segment_size=segment_size)
    segmenter = Segmenter(encryptor)
    segments: list[bytes] = []
    offset = 0
    while offset < len(data):
        size = chunk_sizes()
        chunk = data[offset : offset + size]
        offset += len(chunk)
        segments += segmenter.feed(wrap(chunk))
        assert segmenter.plaintext_bytes == offset
        held_back = offset - len(segments) * segment_size
        # Something is always held back (it may be the last segment), and never more than 2 segments.
        assert 1 <= held_back <= 2 * segment_size
    segments += segmenter.finish()
    return key, document_id, encryptor.header, segments


# --------------------------------------------------------------------------- header


@pytest.mark.parametrize("segment_size", [1, 64, 1000, SEGMENT_SIZE, MAX_SEGMENT_SIZE])
def test_header_is_28_bytes_naming_version_and_segment_size(segment_size: int) -> None:
    encryptor = StreamEncryptor(DataKey.generate(), document_id=uuid.uuid4(), segment_size=segment_size)
    header = encryptor.header
    assert HEADER_SIZE == 28
    assert isinstance(header, bytes)
    assert len(header) == 28
    assert header[0] == 0x01
    assert int.from_bytes(header[1:5], "big") == segment_size
    assert encryptor.segment_size == segment_size


def test_default_segment_size_is_64_kib() -> None:
    encryptor = StreamEncryptor(DataKey.generate(), document_id=uuid.uuid4())
    assert SEGMENT_SIZE == 65536
    assert int.from_bytes(encryptor.header[1:5], "big") == SEGMENT_SIZE


def test_salt_and_nonce_prefix_are_fresh_per_encryption() -> None:
    key, document_id = DataKey.generate(), uuid.uuid4()
    headers = [StreamEncryptor(key, document_id=document_id).header for _ in range(4)]
    assert len({header[5:21] for header in headers}) == 4  # salt
    assert len({header[21:28] for header in headers}) == 4  # nonce prefix


def test_decryptor_reports_segment_size_from_header() -> None:
    document = Document(os.urandom(100), segment_size=64)
    assert document.decryptor().segment_size == 64


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("segment_size", SEGMENT_SIZES)
def test_round_trip_sizes(segment_size: int) -> None:
    for size in sizes_for(segment_size):
        plaintext = os.urandom(size)
        document = Document(plaintext, segment_size=segment_size)
        count = expected_segments(size, segment_size)
        assert len(document.segments) == count
        assert sum(len(segment) for segment in document.segments) == size + TAG_SIZE * count
        for segment in document.segments[:-1]:
            assert len(segment) == segment_size + TAG_SIZE
        assert len(document.segments[-1]) == size - (count - 1) * segment_size + TAG_SIZE

        pieces = list(decrypt_all(document.decryptor(), document.segments))
        assert b"".join(pieces) == plaintext
        assert [len(piece) for piece in pieces[:-1]] == [segment_size] * (count - 1)
        assert 1 <= len(pieces[-1]) <= segment_size


def test_segments_decrypt_in_any_order_given_index_and_last() -> None:
    document = Document(os.urandom(64 * 5 + 7), segment_size=64)
    decryptor = document.decryptor()
    last = len(document.segments) - 1
    order = list(range(len(document.segments)))
    random.Random(3).shuffle(order)
    pieces = {i: decryptor.decrypt_segment(i, document.segments[i], last=i == last) for i in order}
    assert b"".join(pieces[i] for i in range(len(pieces))) == document.plaintext


def test_two_encryptions_of_the_same_content_differ() -> None:
    key, document_id, plaintext = DataKey.generate(), uuid.uuid4(), os.urandom(200)
    first = Document(plaintext, key=key, document_id=document_id)
    second = Document(plaintext, key=key, document_id=document_id)
    assert first.header != second.header
    assert all(a != b for a, b in zip(first.segments, second.segments, strict=True))
    assert first.decrypt() == second.decrypt() == plaintext


def test_ciphertext_does_not_contain_plaintext() -> None:
    plaintext = b"Tolvan Tolvansson, 19121212-1212. " * 20
    document = Document(plaintext, segment_size=64)
    joined = b"".join(document.segments)
    assert b"Tolvan" not in joined
    assert b"19121212" not in joined


def test_encryptor_accepts_bytes_like_plaintext() -> None:
    key, document_id = DataKey.generate(), uuid.uuid4()
    encryptor = StreamEncryptor(key, document_id=document_id, segment_size=8)
    data = os.urandom(20)
    segments = [
        encryptor.encrypt_segment(bytearray(data[:8]), last=False),
        encryptor.encrypt_segment(memoryview(data)[8:16], last=False),
        encryptor.encrypt_segment(data[16:], last=True),
    ]
    decryptor = StreamDecryptor(key, document_id=document_id, header=encryptor.header)
    assert b"".join(decrypt_all(decryptor, segments)) == data
    assert b"".join(decrypt_all(decryptor, [bytearray(s) for s in segments])) == data


# --------------------------------------------------------------------------- segmenter


@pytest.mark.parametrize("segment_size", SEGMENT_SIZES)
@pytest.mark.parametrize("seed", range(4))
def test_segmenter_with_random_chunk_sizes_round_trips(segment_size: int, seed: int) -> None:
    rng = random.Random(seed * 7919 + segment_size)
    size = rng.randint(1, 6 * segment_size + 5) if seed else 6 * segment_size  # one exact multiple
    data = os.urandom(size)
    tiny_run = [0]

    def chunk_size() -> int:
        if tiny_run[0]:  # runs of 1-byte chunks, kept short for the 64 KiB segment size
            tiny_run[0] -= 1
            return 1
        choice = rng.random()
        if choice < 0.1:
            tiny_run[0] = rng.randint(1, 300)
            return 1
        if choice < 0.25:
            return rng.randint(3 * segment_size, 5 * segment_size)  # bigger than several segments
        if choice < 0.4:
            return rng.choice([segment_size - 1 or 1, segment_size, segment_size + 1, 2 * segment_size])
        return rng.randint(1, 2 * segment_size)

    wrap = [bytes, bytearray, memoryview][seed % 3]
    key, document_id, header, segments = segmenter_run(data, segment_size, chunk_size, wrap=wrap)

    count = expected_segments(size, segment_size)
    assert len(segments) == count
    assert [len(segment) for segment in segments[:-1]] == [segment_size + TAG_SIZE] * (count - 1)
    assert len(segments[-1]) == size - (count - 1) * segment_size + TAG_SIZE

    pieces = list(decrypt_all(StreamDecryptor(key, document_id=document_id, header=header), segments))
    assert b"".join(pieces) == data
    assert all(len(piece) == segment_size for piece in pieces[:-1])
    assert 1 <= len(pieces[-1]) <= segment_size


@pytest.mark.parametrize("chunk", [1, 63, 64, 65, 128, 1000])
@pytest.mark.parametrize("size", [1, 64, 640, 641, 1000])
def test_segmenter_fixed_chunk_sizes(chunk: int, size: int) -> None:
    data = os.urandom(size)
    for wrap in (bytes, bytearray):
        key, document_id, header, segments = segmenter_run(data, 64, lambda: chunk, wrap=wrap)
        assert len(segments) == expected_segments(size, 64)
        assert b"".join(decrypt_all(StreamDecryptor(key, document_id=document_id, header=header), segments)) == data


def test_segmenter_one_huge_chunk_returns_all_but_the_held_back_segment() -> None:
    segment_size = 1000
    encryptor = StreamEncryptor(DataKey.generate(), document_id=uuid.uuid4(), segment_size=segment_size)
    segmenter = Segmenter(encryptor)
    first = segmenter.feed(os.urandom(20 * segment_size))
    assert len(first) >= 19  # at most 2 segments of plaintext held back
    assert all(len(segment) == segment_size + TAG_SIZE for segment in first)
    second = segmenter.feed(b"x")
    assert len(first) + len(second) == 20
    last = segmenter.finish()
    assert len(last) == 1 and len(last[0]) == 1 + TAG_SIZE


def test_segmenter_huge_chunk_with_default_segment_size() -> None:
    key, document_id = DataKey.generate(), uuid.uuid4()
    encryptor = StreamEncryptor(key, document_id=document_id)
    segmenter = Segmenter(encryptor)
    data = os.urandom(20 * SEGMENT_SIZE + 5)
    segments = segmenter.feed(data[: 20 * SEGMENT_SIZE])
    assert len(segments) >= 19
    segments += segmenter.feed(data[20 * SEGMENT_SIZE :]) + segmenter.finish()
    assert len(segments) == 21
    decryptor = StreamDecryptor(key, document_id=document_id, header=encryptor.header)
    assert b"".join(decrypt_all(decryptor, segments)) == data


def test_segmenter_copies_mutable_chunks() -> None:
    """A caller may reuse its read buffer after feed() returns."""
    key, document_id = DataKey.generate(), uuid.uuid4()
    encryptor = StreamEncryptor(key, document_id=document_id, segment_size=64)
    segmenter = Segmenter(encryptor)
    buffer = bytearray(os.urandom(100))
    expected = bytes(buffer)
    segments = segmenter.feed(buffer)
    buffer[:] = bytes(100)  # overwritten in place, and then resized
    buffer.extend(b"more")
    segments += segmenter.finish()
    decryptor = StreamDecryptor(key, document_id=document_id, header=encryptor.header)
    assert b"".join(decrypt_all(decryptor, segments)) == expected


def test_segmenter_accepts_other_buffer_types() -> None:
    import array

    key, document_id = DataKey.generate(), uuid.uuid4()
    encryptor = StreamEncryptor(key, document_id=document_id, segment_size=64)
    segmenter = Segmenter(encryptor)
    numbers = array.array("I", range(50))
    signed = array.array("b", range(-50, 50))
    chars = memoryview(b"characters").cast("c")
    segments = [*segmenter.feed(numbers), *segmenter.feed(b""), *segmenter.feed(signed), *segmenter.feed(chars),
                *segmenter.finish()]
    assert segmenter.plaintext_bytes == 200 + 100 + 10
    decryptor = StreamDecryptor(key, document_id=document_id, header=encryptor.header)
    assert b"".join(decrypt_all(decryptor, segments)) == numbers.tobytes() + signed.tobytes() + b"characters"
    with pytest.raises(TypeError):
        Segmenter(StreamEncryptor(key, document_id=document_id, segment_size=64)).feed(memoryview(b"strided")[::2])


def test_segmenter_refuses_empty_document_and_use_after_finish() -> None:
    segmenter = Segmenter(StreamEncryptor(DataKey.generate(), document_id=uuid.uuid4(), segment_size=64))
    assert segmenter.feed(b"") == []
    with pytest.raises(ValueError):
        segmenter.finish()
    assert segmenter.feed(b"abc") == []
    assert len(segmenter.finish()) == 1
    with pytest.raises(ValueError):
        segmenter.finish()
    with pytest.raises(ValueError):
        segmenter.feed(b"more")


def test_segmenter_refuses_empty_document_without_any_feed() -> None:
    encryptor = StreamEncryptor(DataKey.generate(), document_id=uuid.uuid4(), segment_size=64)
    with pytest.raises(ValueError):
        Segmenter(encryptor).finish()
    assert encryptor.segments_written == 0


# --------------------------------------------------------------------------- tampering


@pytest.fixture
def document() -> Document:
    """Five full segments and a short last one (six in all)."""
    return Document(os.urandom(64 * 5 + 17), segment_size=64)


def test_fixture_document_opens(document: Document) -> None:
    """Guards the tamper tests: without tampering the document opens."""
    assert len(document.segments) == 6
    assert document.decrypt() == document.plaintext


@pytest.mark.parametrize("which", [0, 2, 5], ids=["first", "middle", "last"])
def test_flipped_bit_in_a_segment_fails(document: Document, which: int) -> None:
    segment = document.segments[which]
    positions = sorted({0, 1, len(segment) // 2, len(segment) - TAG_SIZE - 1, len(segment) - TAG_SIZE,
                        len(segment) - TAG_SIZE // 2, len(segment) - 1})
    for position in positions:
        for bit in (0, 7):
            segments = list(document.segments)
            segments[which] = flip(segment, position, bit)
            assert_fails(lambda: document.decrypt(segments))


def test_every_bit_of_a_short_last_segment_matters() -> None:
    document = Document(os.urandom(64 + 3), segment_size=64)
    last = document.segments[-1]
    for position in range(len(last)):
        for bit in range(8):
            assert_fails(lambda: document.decrypt([document.segments[0], flip(last, position, bit)]))


@pytest.mark.parametrize("pair", [(0, 1), (1, 2), (0, 4), (3, 4)])
def test_swapped_full_segments_fail(document: Document, pair: tuple[int, int]) -> None:
    i, j = pair
    segments = list(document.segments)
    segments[i], segments[j] = segments[j], segments[i]
    assert_fails(lambda: document.decrypt(segments))


def test_last_segment_swapped_with_a_full_one_fails() -> None:
    document = Document(os.urandom(64 * 3), segment_size=64)  # every segment full size
    segments = list(document.segments)
    segments[1], segments[2] = segments[2], segments[1]
    assert_fails(lambda: document.decrypt(segments))


def test_segment_from_another_document_with_the_same_key_fails(document: Document) -> None:
    other = Document(os.urandom(len(document.plaintext)), segment_size=64, key=document.key)
    assert other.document_id != document.document_id
    for i in range(len(document.segments)):
        segments = list(document.segments)
        segments[i] = other.segments[i]
        assert_fails(lambda: document.decrypt(segments))


def test_segment_from_another_encryption_of_the_same_document_fails(document: Document) -> None:
    """Same key and document_id, but a re-encryption has its own salt and nonce prefix."""
    again = Document(document.plaintext, segment_size=64, key=document.key, document_id=document.document_id)
    for i in range(len(document.segments)):
        segments = list(document.segments)
        segments[i] = again.segments[i]
        assert_fails(lambda: document.decrypt(segments))


def test_segment_from_another_document_with_another_key_fails(document: Document) -> None:
    other = Document(os.urandom(len(document.plaintext)), segment_size=64)
    for i in range(len(document.segments)):
        segments = list(document.segments)
        segments[i] = other.segments[i]
        assert_fails(lambda: document.decrypt(segments))
    # Nor do its header and segments open under this document's key and id.
    assert_fails(lambda: document.decrypt(other.segments, header=other.header))


@pytest.mark.parametrize("size", [64 * 5 + 17, 64 * 6], ids=["short last", "full last"])
def test_truncation_fails(size: int) -> None:
    document = Document(os.urandom(size), segment_size=64)
    for keep in range(1, len(document.segments)):
        truncated = document.segments[:keep]
        assert_fails(lambda: document.decrypt(truncated))
        # The new final segment does not open as last.
        assert_fails(lambda: document.decryptor().decrypt_segment(keep - 1, truncated[-1], last=True))


def test_no_segments_at_all_fails(document: Document) -> None:
    assert_fails(lambda: document.decrypt([]))


def test_truncated_document_yields_a_prefix_then_fails(document: Document) -> None:
    """Streaming: earlier segments are authentic, but completeness is known only at the end."""
    seen = []
    with pytest.raises(DecryptionFailed):
        for piece in decrypt_all(document.decryptor(), document.segments[:3]):
            seen.append(piece)
    assert b"".join(seen) == document.plaintext[: 2 * 64]


@pytest.mark.parametrize("size", [64 * 5 + 17, 64 * 6], ids=["short last", "full last"])
def test_extra_segment_after_the_last_fails(size: int) -> None:
    document = Document(os.urandom(size), segment_size=64)
    other = Document(os.urandom(64 * 8), segment_size=64, key=document.key)
    extras = [document.segments[-1], document.segments[0], other.segments[len(document.segments)], os.urandom(64 + TAG_SIZE)]
    for extra in extras:
        assert_fails(lambda: document.decrypt([*document.segments, extra]))


def test_segment_with_wrong_last_flag_fails() -> None:
    for size in (64 * 3 + 5, 64 * 3):
        document = Document(os.urandom(size), segment_size=64)
        decryptor = document.decryptor()
        final = len(document.segments) - 1
        for i in range(final):
            assert_fails(lambda: decryptor.decrypt_segment(i, document.segments[i], last=True))
        assert_fails(lambda: decryptor.decrypt_segment(final, document.segments[final], last=False))
        # And with the right flags they open.
        for i, segment in enumerate(document.segments):
            decryptor.decrypt_segment(i, segment, last=i == final)


def test_segment_at_wrong_index_fails(document: Document) -> None:
    decryptor = document.decryptor()
    for index in (1, 2, 2**32 - 1, 2**32, -1):
        assert_fails(lambda: decryptor.decrypt_segment(index, document.segments[0], last=False))


def test_segment_of_wrong_length_fails(document: Document) -> None:
    decryptor = document.decryptor()
    full, last = document.segments[0], document.segments[-1]
    for forged in (full[:-1], full + b"\x00", full[:TAG_SIZE], b""):
        assert_fails(lambda: decryptor.decrypt_segment(0, forged, last=False))
    for forged in (last[:-1], last[:TAG_SIZE], b"", last + os.urandom(64)):
        assert_fails(lambda: decryptor.decrypt_segment(5, forged, last=True))


def test_altered_header_fails_at_every_byte(document: Document) -> None:
    for position in range(HEADER_SIZE):  # version, segment size, salt, nonce prefix
        for bit in (0, 4, 7):
            header = flip(document.header, position, bit)
            assert_fails(lambda: document.decrypt(header=header))


def test_decrypting_with_the_wrong_document_id_fails(document: Document) -> None:
    assert_fails(lambda: document.decrypt(document_id=uuid.uuid4()))


def test_decrypting_with_the_wrong_key_fails(document: Document) -> None:
    assert_fails(lambda: document.decrypt(key=DataKey.generate()))


@pytest.mark.parametrize(
    "header",
    [
        b"",
        bytes(27),
        bytes(29),
        b"\x00" + (64).to_bytes(4, "big") + bytes(23),
        b"\x02" + (64).to_bytes(4, "big") + bytes(23),
        b"\x01" + (0).to_bytes(4, "big") + bytes(23),
        b"\x01" + (MAX_SEGMENT_SIZE + 1).to_bytes(4, "big") + bytes(23),
        b"\x01" + (2**32 - 1).to_bytes(4, "big") + bytes(23),
    ],
    ids=["empty", "27 bytes", "29 bytes", "version 0", "version 2", "segment size 0", "segment size 16 MiB + 1",
         "segment size 2**32-1"],
)
def test_malformed_header_fails_on_construction(header: bytes) -> None:
    assert_fails(lambda: StreamDecryptor(DataKey.generate(), document_id=uuid.uuid4(), header=header))


def test_header_with_largest_segment_size_is_accepted() -> None:
    header = b"\x01" + MAX_SEGMENT_SIZE.to_bytes(4, "big") + bytes(23)
    assert StreamDecryptor(DataKey.generate(), document_id=uuid.uuid4(), header=header).segment_size == MAX_SEGMENT_SIZE


def test_header_from_another_document_fails(document: Document) -> None:
    other = Document(os.urandom(100), segment_size=64, key=document.key, document_id=document.document_id)
    assert_fails(lambda: document.decrypt(header=other.header))


# --------------------------------------------------------------------------- encryptor misuse


def encryptor(segment_size: int = 64) -> StreamEncryptor:
    return StreamEncryptor(DataKey.generate(), document_id=uuid.uuid4(), segment_size=segment_size)


@pytest.mark.parametrize("size", [0, 1, 63, 65, 128])
def test_non_last_segment_of_wrong_size_is_refused(size: int) -> None:
    enc = encryptor()
    with pytest.raises(ValueError):
        enc.encrypt_segment(os.urandom(size), last=False)
    assert enc.segments_written == 0
    enc.encrypt_segment(os.urandom(64), last=False)  # still usable
    assert enc.segments_written == 1


@pytest.mark.parametrize("size", [0, 65, 1000])
def test_last_segment_empty_or_too_large_is_refused(size: int) -> None:
    enc = encryptor()
    with pytest.raises(ValueError):
        enc.encrypt_segment(b"x" * size, last=True)
    assert enc.segments_written == 0


def test_empty_document_is_refused() -> None:
    with pytest.raises(ValueError):
        encryptor().encrypt_segment(b"", last=True)


def test_writing_after_the_last_segment_is_refused() -> None:
    enc = encryptor()
    enc.encrypt_segment(os.urandom(64), last=False)
    enc.encrypt_segment(os.urandom(10), last=True)
    assert enc.segments_written == 2
    with pytest.raises(ValueError):
        enc.encrypt_segment(os.urandom(64), last=False)
    with pytest.raises(ValueError):
        enc.encrypt_segment(os.urandom(10), last=True)
    assert enc.segments_written == 2


@pytest.mark.parametrize("segment_size", [0, -1, MAX_SEGMENT_SIZE + 1, True, 64.0])
def test_invalid_segment_size_is_refused(segment_size) -> None:
    with pytest.raises(ValueError):
        StreamEncryptor(DataKey.generate(), document_id=uuid.uuid4(), segment_size=segment_size)


def test_document_id_and_key_must_have_the_right_types() -> None:
    with pytest.raises(TypeError):
        StreamEncryptor(DataKey.generate(), document_id=str(uuid.uuid4()))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        StreamEncryptor(os.urandom(32), document_id=uuid.uuid4())  # type: ignore[arg-type]
    document = Document(b"abc")
    with pytest.raises(TypeError):
        StreamDecryptor(document.key, document_id=document.document_id.bytes, header=document.header)  # type: ignore[arg-type]


def test_every_failure_has_the_same_generic_message(document: Document) -> None:
    failures = {
        "bit flip": lambda: document.decrypt([flip(document.segments[0], 3), *document.segments[1:]]),
        "truncated": lambda: document.decrypt(document.segments[:-1]),
        "extended": lambda: document.decrypt([*document.segments, document.segments[-1]]),
        "swapped": lambda: document.decrypt([document.segments[1], document.segments[0], *document.segments[2:]]),
        "header": lambda: document.decrypt(header=flip(document.header, 10)),
        "malformed header": lambda: document.decrypt(header=document.header[:-1]),
        "document id": lambda: document.decrypt(document_id=uuid.uuid4()),
        "key": lambda: document.decrypt(key=DataKey.generate()),
        "empty": lambda: document.decrypt([]),
    }
    messages = {}
    for name, attempt in failures.items():
        with pytest.raises(DecryptionFailed) as excinfo:
            attempt()
        messages[name] = str(excinfo.value)
    assert set(messages.values()) == {GENERIC_MESSAGE}, messages
