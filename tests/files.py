"""Small real files of each type, made in code (no binary fixtures in the repository)."""
from __future__ import annotations

import io
import json
import os
import zipfile

import aiohttp


def pdf(size: int = 2000, *, marker: bytes = b"") -> bytes:
    body = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\n" + marker
    body += os.urandom(max(0, size - len(body) - 6))
    return body + b"\n%%EOF"


def png() -> bytes:
    return (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
            b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")


def jpeg() -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + os.urandom(200) + b"\xff\xd9"


def text(content: str = "Journalanteckning: klienten mår bättre.\n") -> bytes:
    return content.encode()


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                         '<Override PartName="/word/document.xml" ContentType="application/'
                         'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        archive.writestr("_rels/.rels", "<Relationships/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def odt() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", "<office:document-content/>")
    return buffer.getvalue()


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"


def upload(category: str, title: str, content_type: str = "application/pdf") -> aiohttp.FormData:
    """The API's upload form: metadata, then a small PDF (declared as `content_type`)."""
    data = aiohttp.FormData()
    data.add_field("metadata", json.dumps({"category": category, "title": title}), content_type="application/json")
    data.add_field("file", pdf(1500), filename="a.pdf", content_type=content_type)
    return data
