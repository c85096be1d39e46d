"""Content type from the bytes themselves (libmagic), never from what the client declares."""
from __future__ import annotations

import magic

SNIFF_BYTES = 16 * 1024  # enough for every allowed type; text sniffing costs time per byte

# API.md "Documents": everything else (HTML, SVG, scripts, executables, archives) is refused.
ALLOWED_TYPES = frozenset({
    "application/pdf",
    "image/png",
    "image/jpeg",
    "text/plain",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.oasis.opendocument.text",
})

_magic = magic.Magic(mime=True)


def sniff(head: bytes) -> str:
    """The MIME type libmagic finds in the first bytes of a file."""
    return _magic.from_buffer(head[:SNIFF_BYTES])


def base_type(content_type: str | None) -> str:
    """`text/plain; charset=utf-8` → `text/plain`; lower-cased, stripped."""
    return (content_type or "").split(";", 1)[0].strip().lower()
