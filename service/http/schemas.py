"""Request and response bodies as pydantic models: validation and the OpenAPI schemas in one place."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
DomainName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class Body(BaseModel):
    """A request body: unknown fields are refused, types are strict."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Out(BaseModel):
    """A response body."""

    model_config = ConfigDict(extra="forbid")


T = TypeVar("T")


class Page(Out, Generic[T]):
    items: list[T]
    next_cursor: str | None


# --- units
class UnitIn(Body):
    id: Slug
    name: Text
    organisation: Slug
    domain: DomainName = Field(description="social, health, or another configured domain (BRYGGA_DOMAINS)")


class UnitPatch(Body):
    active: bool


class Unit(Out):
    id: str
    name: str
    organisation: str
    domain: str
    active: bool
    created_at: datetime


# --- clients
PersonalNumberText = Annotated[str, StringConstraints(min_length=1, max_length=20)]


class ClientIn(Body):
    personal_number: PersonalNumberText = Field(description="personnummer or samordningsnummer, 10 or 12 digits, with or without - or +")
    name: Text


class ClientLookupIn(Body):
    personal_number: PersonalNumberText


class ClientRef(Out):
    id: UUID


class Client(Out):
    id: UUID
    birth_date: date
    is_minor: bool


class ClientWithName(Client):
    name: str


# --- relations
class Empty(Body):
    """An empty JSON object (or no body at all)."""


class Relation(Out):
    id: UUID
    client_id: UUID
    unit: str
    started_at: datetime
    ended_at: datetime | None


# --- service
class Health(Out):
    status: Literal["ok"]


class Ready(Out):
    status: Literal["ready"]
    checks: dict[str, str]


class FieldError(Out):
    field: str
    message: str


class Problem(Out):
    """RFC 9457 problem details with Brygga's stable `code`."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str
    errors: list[FieldError] | None = None
    checks: dict[str, str] | None = None


# --- documents
Category = Literal["journal_note", "assessment", "screening", "treatment_plan", "sip", "decision", "referral",
                   "consent_form", "other"]
CATEGORIES: tuple[str, ...] = Category.__args__
Purpose = Literal["care", "case_handling", "coordination", "followup"]
PURPOSES: tuple[str, ...] = Purpose.__args__


class DocumentMetadataIn(Body):
    """The `metadata` part of an upload."""

    category: Category
    title: Annotated[str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True)]


class UploadForm(BaseModel):
    """multipart/form-data, parts in this order: `metadata` (JSON DocumentMetadataIn), then `file`."""

    metadata: str = Field(description="JSON: {\"category\", \"title\"}")
    file: bytes = Field(json_schema_extra={"format": "binary", "contentMediaType": "application/octet-stream"})


class ReasonIn(Body):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000, strip_whitespace=True)]


class ZoneOut(Out):
    organisation: str
    domain: str


class Document(Out):
    id: UUID
    client_id: UUID
    unit: str
    zone: ZoneOut
    category: str
    title: str
    content_type: str
    size: int
    created_at: datetime
    created_by: str
    status: Literal["active", "shredded"]
    blocked: bool
    access_basis: str


# --- consents
ZoneSlug = Slug


class ZoneIn(Body):
    organisation: Slug
    domain: DomainName


class RecipientIn(ZoneIn):
    unit: Slug | None = Field(default=None, description="one unit of the to zone, or null for the whole zone")


class ConsentIn(Body):
    """A consent as staff record it; `from`/`to` are zones."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)
    from_: ZoneIn = Field(alias="from")
    to: RecipientIn
    categories: Annotated[list[Category | Literal["*"]], Field(min_length=1, max_length=10)]
    purposes: Annotated[list[Purpose], Field(min_length=1, max_length=4)]
    valid_from: datetime | None = Field(default=None, description="default: now; status is pending until then")
    valid_until: datetime
    given_by: Literal["client", "guardian"]
    form: Literal["written", "verbal", "electronic"]
    maturity_assessed: bool = False
    evidence_document_id: UUID | None = None
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


class RecipientOut(ZoneOut):
    unit: str | None


class ConsentOut(Out):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)
    id: UUID
    client_id: UUID
    status: Literal["pending", "active", "expired", "revoked"]
    from_: ZoneOut = Field(alias="from")
    to: RecipientOut
    categories: list[str]
    purposes: list[str]
    valid_from: datetime
    valid_until: datetime
    given_by: str
    form: str
    maturity_assessed: bool
    evidence_document_id: UUID | None
    note: str | None
    recorded_by: str
    recorded_by_unit: str
    recorded_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None


class EmergencyIn(Body):
    reason: Annotated[str, StringConstraints(min_length=20, max_length=2000, strip_whitespace=True)]
    domain: DomainName = Field(default="health", description="the domain whose records the grant opens (must be permitted)")


class EmergencyOut(Out):
    id: UUID
    client_id: UUID
    domain: str
    opened_at: datetime
    expires_at: datetime


class FhirConsent(BaseModel):
    """An HL7 FHIR R4 Consent resource."""

    model_config = ConfigDict(extra="allow")
    resourceType: Literal["Consent"]
    id: str
    status: str


# --- audit
class ActorZone(Out):
    organisation: str
    domain: str


class Actor(Out):
    sub: str
    name: str | None
    unit: str | None
    zone: ActorZone | None
    roles: list[str]


class AuditEvent(Out):
    seq: int
    at: datetime
    actor: Actor
    action: str
    client_id: UUID | None
    document_id: UUID | None
    consent_id: UUID | None
    decision: Literal["allow", "deny"]
    basis: str | None
    reason_codes: list[str]
    purpose: str | None
    request_id: str | None
    remote_addr: str | None
    flagged: bool
    prev_seq: int | None = Field(description="the sealed event before this one (extension); null until sealed")
    prev_hash: str | None = Field(description="hex SHA-256; null until sealed")
    hash: str | None = Field(description="hex SHA-256 over prev_hash and the event's canonical bytes; null until sealed")


class ChainHead(Out):
    seq: int
    hash: str


class VerifyOut(Out):
    ok: bool
    checked: int
    head: ChainHead
    first_bad_seq: int | None
    problem: Literal["modified", "missing", "reordered", "inserted", "bad_signature", "truncated"] | None


class CheckpointOut(Out):
    seq: int
    hash: str
    at: datetime
    signature: str = Field(description="base64 Ed25519 signature (crypto/chain.py gives the signed bytes)")
    key_id: str


class PublicJwk(Out):
    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    kid: str
    x: str


class PublicKeyOut(Out):
    key_id: str
    algorithm: Literal["Ed25519"]
    public_key: str = Field(description="base64 of the raw 32-byte key")
    jwk: PublicJwk


class PublicKeys(Out):
    keys: list[PublicKeyOut]


class ExtractActor(Out):
    name: str | None
    unit: str | None
    organisation: str | None


class AccessLogEntry(Out):
    seq: int
    at: datetime
    actor: ExtractActor
    action: str
    document_id: UUID | None
    basis: str | None
    purpose: str | None
    flagged: bool
