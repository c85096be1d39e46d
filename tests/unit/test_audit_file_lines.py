"""audit_file._walk_line: an archive's event line as the walk line add_lines hashes.

Its one-match path (the lines `audit archive` writes) must give, for every line, what taking the line apart at its
commas gives (_walk_line_parts, the definition): a line the two read otherwise would be verified as another line.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.audit_file import _ARCHIVE_LINE, _walk_line, _walk_line_parts

HASH, PREV = "c4f81c2d38b218ecc0531d8d8c907f2eb5dbf3c61751da85b74001c0f797b368", "77e7" * 16
EVENT = ('[1,999999,1764000000999999,"anna","Anna Å","iof","malmo-stad","social",["staff"],"client.read",'
         '"6f1c0f0e-0000-4000-8000-000000000001",null,null,"allow","own_zone",[],"care","r-999999","10.0.0.1",false]')
LINE = f'{{"seq":999999,"prev_seq":999998,"prev_hash":"{PREV}","hash":"{HASH}","event":{EVENT}}}\n'.encode()


def test_an_archive_line_is_read_in_one_match():
    assert _ARCHIVE_LINE.match(LINE)
    assert _walk_line(LINE) == f'999999"999998"{PREV}"{HASH}"{EVENT}'.encode() == _walk_line_parts(LINE)


EDGES = [
    LINE, LINE[:-1], LINE[:-1] + b"\r\n", LINE[:-1] + b"\r", LINE[:-1] + b"\n\r", LINE[:-1] + b"\r\r\n",
    LINE + b"\n", LINE[:-1] + b" \n", LINE.replace(b"[1,", b"[1,\r", 1), LINE.replace(b"[1,", b"[1,\n", 1),
    LINE.replace(b'"social"', b'"so]}cial"'), LINE.replace(b'"social"', b'"so]}\n"'),
    LINE.replace(EVENT.encode(), b"[]"), LINE.replace(EVENT.encode(), b"[]]"), LINE.replace(EVENT.encode(), b""),
    LINE.replace(HASH.encode(), HASH.upper().encode()), LINE.replace(HASH.encode(), HASH[:-1].encode()),
    LINE.replace(HASH.encode(), (HASH + "0").encode()), LINE.replace(b'"hash":"' + HASH.encode() + b'"', b'"hash":null'),
    LINE.replace(b'"prev_seq":999998', b'"prev_seq":null'), LINE.replace(b'"seq":999999', b'"seq":-1'),
    LINE.replace(b'"seq":999999', b'"seq":'), LINE.replace(b'"prev_hash":"' + PREV.encode() + b'"', b'"prev_hash":"'),
    LINE.replace(b',"event"', b', "event"'), LINE.replace(b"false]}", b"false]"), LINE.replace(b"false]}", b"false}"),
    LINE.replace(b'{"seq"', b' {"seq"'), LINE.replace(b'"seq":999999', b'"seq":99,9999'), b"", b"\n", b"]}\n",
]


@pytest.mark.parametrize("line", EDGES, ids=range(len(EDGES)))
def test_edges_read_as_taken_apart(line):
    assert _walk_line(line) == _walk_line_parts(line)


# Lines near an archive's: its own bytes with a few cut, doubled or replaced by the bytes that shape it.
_SHAPING = st.sampled_from([b",", b'"', b":", b"[", b"]", b"{", b"}", b"\r", b"\n", b" ", b"0", b"a", b"A", b"-",
                            b"]}", b'","', b"null", b'"event":', b'"hash":"'])


@st.composite
def _near_lines(draw) -> bytes:
    line = bytearray(LINE)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(line)))
        cut = draw(st.integers(0, 3))
        line[at:at + cut] = draw(st.one_of(st.just(b""), _SHAPING, st.binary(max_size=3)))
    return bytes(line)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_near_lines())
def test_near_lines_read_as_taken_apart(line):
    assert _walk_line(line) == _walk_line_parts(line)
