"""Request and response bodies as pydantic models: validation and the OpenAPI schemas in one place."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator

from policies.consents import EndedReason
from policies.consents import Status as ConsentStatus
from policies.model import CATEGORIES as CATEGORIES  # the domain vocabulary, re-exported
from policies.model import PURPOSES as PURPOSES
from policies.model import Category, Ground, Purpose, Zone
from policies.relations import RelationKind
from policies.sip import Effort, PlanContent

from ..domain.commands import Guardian, Maturity, NewConsent, NewDisclosure, NewFollowUp, NewLifting

# --- text. Every rule is both checked here and written into the OpenAPI document as a pattern, so that what the
# document calls valid is what the server accepts. Lengths count the characters as sent; surrounding blanks are
# then stripped.
_WHITE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
          "\u2028\u2029\u202f\u205f\u3000")  # Unicode White_Space
_WS = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"  # the same, as a class
# Never in a one-line text (names, titles): C0 and C1 controls (U+0000 cannot even be stored), line and paragraph
# separators, and the bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) that make
# text display as something it is not ("Beslut\u202eFDP.exe" shows as "Beslutexe.PDF"). Refused, not stripped:
# what is stored is what the caller sent. The marks U+200E/U+200F/U+061C stay allowed (Arabic, Hebrew).
_NOT_IN_A_LINE = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
LINE_PATTERN = f"^[^{_NOT_IN_A_LINE}]*[^{_NOT_IN_A_LINE}{_WS}][^{_NOT_IN_A_LINE}]*$"
_LINE = re.compile(LINE_PATTERN)
_VISIBLE = re.compile(f"[^{_WS}]")


def _one_line(value: str) -> str:
    if not _LINE.fullmatch(value):
        raise ValueError("must be one line with a visible character, without control characters, line separators or "
                         "bidirectional embeddings, overrides or isolates (U+202A-U+202E, U+2066-U+2069)")
    return value.strip(_WHITE)


def _not_blank(value: str) -> str:
    if not _VISIBLE.search(value):
        raise ValueError("must have a visible character")
    return value.strip(_WHITE)


def line(max_length: int) -> Any:
    """One line of text: 1..max_length characters, a visible one among them, no controls or bidi overrides."""
    return Annotated[str, StringConstraints(min_length=1, max_length=max_length), AfterValidator(_one_line),
                     Field(json_schema_extra={"pattern": LINE_PATTERN})]


# Never in free text (reasons, notes, comments) either: the controls but tab, line feed and carriage return, and the
# bidirectional embeddings, overrides and isolates. An auditor reads these beside the access they explain.
_NOT_IN_TEXT = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_TEXT_WS = r"\t\n\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"  # White_Space less the controls
_FORBIDDEN_IN_TEXT = re.compile(f"[{_NOT_IN_TEXT}]")
_TEXT_RULE = ("without control characters (but tab and line breaks) or bidirectional embeddings, overrides or "
              "isolates (U+202A-U+202E, U+2066-U+2069)")


def _text(value: str) -> str:
    if _FORBIDDEN_IN_TEXT.search(value):
        raise ValueError(f"must be text {_TEXT_RULE}")
    return value


def paragraph(max_length: int, *, min_length: int = 1) -> Any:
    """Free text (line breaks allowed): min..max characters as sent, not blank, no controls or bidi overrides; stripped.

    With min_length > 1 the minimum counts from the first to the last visible character, as the pattern says.
    """
    if min_length <= 1:
        pattern = f"^[^{_NOT_IN_TEXT}]*[^{_NOT_IN_TEXT}{_TEXT_WS}][^{_NOT_IN_TEXT}]*$"
        check = _not_blank
    else:
        pattern = (f"^[{_TEXT_WS}]*[^{_NOT_IN_TEXT}{_TEXT_WS}][^{_NOT_IN_TEXT}]{{{min_length - 2},}}"
                   f"[^{_NOT_IN_TEXT}{_TEXT_WS}][{_TEXT_WS}]*$")
        compiled = re.compile(f"^[{_WS}]*[^{_WS}][\\s\\S]{{{min_length - 2},}}[^{_WS}][{_WS}]*$")

        def check(value: str) -> str:
            if not compiled.fullmatch(value):
                raise ValueError(f"must have at least {min_length} characters besides surrounding blanks")
            return value.strip(_WHITE)
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length), AfterValidator(_text),
                     AfterValidator(check), Field(json_schema_extra={"pattern": pattern})]


def text(max_length: int) -> Any:
    """Optional free text: up to max_length characters, blank allowed, no controls or bidi overrides; kept as sent."""
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_text),
                     Field(json_schema_extra={"pattern": f"^[^{_NOT_IN_TEXT}]*$"})]


Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]
if TYPE_CHECKING:
    # A call is no type to mypy: to it these are what they validate to. Pydantic gets the constraints below.
    Text = str
    ReasonText = str
    CommentText = str
    EmergencyReasonText = str
    NeedText = str
    NoteText = str
    RelationReasonText = str
    MaturityBasisText = str
    IvoDecisionText = str
    CorrectionReasonText = str
else:
    Text = line(200)
    ReasonText = paragraph(1000)
    CommentText = paragraph(2000)
    EmergencyReasonText = paragraph(2000, min_length=20)
    NeedText = paragraph(2000, min_length=20)
    NoteText = text(2000)
    RelationReasonText = paragraph(500)
    MaturityBasisText = paragraph(2000, min_length=20)
    IvoDecisionText = line(100)
    CorrectionReasonText = paragraph(1000, min_length=10)
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


class SuccessionIn(Body):
    successor: Slug = Field(description="the unit that takes over: of the same organisation and domain (422 "
                            "different_zone otherwise)")
    effective_at: datetime = Field(description="the instant of the reorganisation, with its offset; not in the "
                                   "future, nor more than five minutes past or before either unit was created (422)")
    blocked_documents: Literal["move"] | None = Field(
        default=None, description="\"move\": move the blocked documents of clients the successor already has an "
        "active relation with (after the move the successor owns them, so their block no longer keeps it out: PDL "
        "4:4); without it such a succession is refused (409 blocked_documents). Audited in the basis")


class Succession(Out):
    predecessor: str
    successor: str
    effective_at: datetime
    documents: int = Field(description="documents whose owning unit is now the successor")
    relations: int = Field(description="active relations ended at the predecessor and begun at the successor")
    consents: int = Field(description="consents (not revoked) naming the predecessor, honoured for the successor")
    disclosures: int = Field(description="disclosures to the predecessor, honoured for the successor")
    sip_plans: int = Field(description="SIP plans the predecessor took part in: the successor takes its place as "
                           "participant, holding and responsible unit (extends API-1.1)")


class SuccessionPreview(Out):
    unit: str
    documents: int
    relations: int
    consents: int
    disclosures: int
    sip_plans: int = Field(description="SIP plans the unit takes part in (extends API-1.1)")
    blocked_documents: int | None = Field(
        description="with ?successor=: the unit's blocked documents of clients the successor already has an active "
        "relation with, which the succession would move to it (the block then no longer keeps it out); null without")


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
    blocked_elsewhere: bool = Field(description="whether documents of the client blocked from you (spärr, PDL 4:4) "
                                                "exist in another unit; never where or what")


# --- relations
class Empty(Body):
    """An empty JSON object (or no body at all)."""


_KIND = ("care: a care relation (health care, PDL 4:1); case: a social services case; sip: a coordinated "
         "individual plan; referral: a referral received")


class RelationIn(Body):
    """Opening a relation: both fields optional (an empty object, or no body, is v1's call)."""

    kind: RelationKind | None = Field(default=None, description=_KIND + ". Default: care for a health unit, case "
                                                                        "for a social services unit (and any other domain)")
    reason: RelationReasonText | None = Field(default=None, description="why the unit takes part, at most 500 "
                                                                        "characters; stored sealed, not in the audit log")


class Relation(Out):
    id: UUID
    client_id: UUID
    unit: str
    kind: RelationKind = Field(description=_KIND)
    reason: str | None = Field(description="as stated when it was opened; null when none was")
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
    code: str | None = Field(default=None, description="what is wrong, where a field can be wrong in more than one "
                                                        "way (retention rules: below_legal_minimum, unknown_category, …)")


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


class DocumentMetadataIn(Body):
    """The `metadata` part of an upload."""

    category: Category
    title: Text = Field(description="one line, at most 200 characters; control characters and bidirectional "
                                          "embeddings, overrides and isolates are refused (422)")


class UploadForm(BaseModel):
    """multipart/form-data, parts in this order: `metadata` (JSON DocumentMetadataIn), then `file`; nothing else."""

    model_config = ConfigDict(extra="forbid")

    # An object part: OpenAPI 3.1's default encoding for it is application/json, which is what it is.
    metadata: DocumentMetadataIn = Field(description="JSON: {\"category\", \"title\"} (application/json)")
    file: bytes = Field(json_schema_extra={"format": "binary", "contentMediaType": "application/octet-stream"})


class CorrectionMetadataIn(Body):
    """The `metadata` part of a correction (API-1.1 "Corrections and reorganisations")."""

    reason: CorrectionReasonText = Field(description="why the document is corrected, at least 10 characters; stored "
                                         "sealed with the version it replaces (PDL 3:14)")
    title: Text | None = Field(default=None, description="the new version's title; null or absent: the title as it "
                               "is (one line, at most 200 characters)")


class CorrectionForm(BaseModel):
    """multipart/form-data: `metadata` (JSON CorrectionMetadataIn), then optionally `file`: the new content (checked
    like an upload's). Without a file the new version keeps the content as it is (a new title): then the title is
    required (422)."""

    model_config = ConfigDict(extra="forbid")

    metadata: CorrectionMetadataIn = Field(description="JSON: {\"reason\", \"title\"} (application/json)")
    file: bytes | None = Field(default=None, json_schema_extra={"format": "binary",
                                                                "contentMediaType": "application/octet-stream"})


class ReasonIn(Body):
    reason: ReasonText


class ShredIn(ReasonIn):
    ivo_decision: IvoDecisionText | None = Field(
        default=None, description="the reference (diarienummer) of IVO's decision that the record may be destroyed: "
        "required to shred a health document younger than 10 years (409 retention_minimum without it; PDL 3:17, 8:4); "
        "one line, at most 100 characters; kept sealed in the tombstone and named in the audit event's basis "
        "(`ivo_decision:<reference>`)")


class EmergencyReviewIn(Body):
    verdict: Literal["justified", "unjustified"]
    comment: CommentText = Field(description="why; stored sealed")


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
    shred_reason: Literal["culled", "requested"] | None = Field(
        default=None, description="a tombstone's: culled by its retention rule, or shredded on request (extends API-1.1)")
    ivo_decision: str | None = Field(description="on a tombstone: the reference of the IVO decision "
                                     "the document was shredded on, if it was (extension); otherwise null")
    versions: int = Field(default=1, description="how many versions the document has (API-1.1 \"Corrections\"); "
                          "this object shows the latest")


class DocumentVersion(Out):
    """One version of a document (GET /v1/documents/{id}/versions, oldest first; the last is the latest)."""

    number: int = Field(description="1 for the upload, then one more for each correction")
    title: str
    content_type: str
    size: int
    status: Literal["active", "shredded"]
    created_at: datetime = Field(description="when this version was made (the upload, or the correction that made it)")
    created_by: str
    corrected_at: datetime | None = Field(description="when it was corrected: null for the latest")
    corrected_by: str | None
    reason: str | None = Field(description="why it was corrected (null for the latest)")
    superseded_by: int | None = Field(description="the number of the version that replaced it; null for the latest")


class DocumentVersions(Out):
    document_id: UUID
    items: list[DocumentVersion]


# --- consents
ZoneSlug = Slug


class ZoneIn(Body):
    organisation: Slug
    domain: DomainName


class RecipientIn(ZoneIn):
    unit: Slug | None = Field(default=None, description="one unit of the to zone, or null for the whole zone")


class GuardianIn(Body):
    """The guardian (vårdnadshavare) who gives a guardian's consent."""

    name: Text
    personal_number: PersonalNumberText = Field(description="personnummer or samordningsnummer, checked like a "
                                                            "client's (422 invalid_personal_number); stored sealed, "
                                                            "never returned whole")


class MaturityIn(Body):
    """A recorded assessment of the minor's maturity to consent themself (OSL 12:3)."""

    assessed_by: Text
    assessed_at: date = Field(description="the day of the assessment; not in the future")
    basis: MaturityBasisText = Field(description="on what the assessment rests: at least 20 characters; stored sealed")


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
    guardian: GuardianIn | None = Field(default=None, description="required when given_by is guardian (422 "
                                                                  "guardian_required), and only then")
    form: Literal["written", "verbal", "electronic"]
    maturity_assessed: bool = Field(default=False, description="true without `maturity`: recorded as assessed by the "
                                                               "caller, today, basis \"not stated\"")
    maturity: MaturityIn | None = Field(default=None, description="the assessment; given, maturity_assessed is true")
    evidence_document_id: UUID | None = None
    note: NoteText | None = None

    def command(self) -> NewConsent:
        """The core's command for this request (the web interface's form is checked by this model too)."""
        return NewConsent(
            from_zone=Zone(self.from_.organisation, self.from_.domain),
            to_zone=Zone(self.to.organisation, self.to.domain), to_unit=self.to.unit,
            categories=tuple(self.categories), purposes=tuple(self.purposes), valid_from=self.valid_from,
            valid_until=self.valid_until, given_by=self.given_by, form=self.form,
            maturity_assessed=self.maturity_assessed, evidence_document_id=self.evidence_document_id, note=self.note,
            guardian=Guardian(self.guardian.name, self.guardian.personal_number) if self.guardian else None,
            maturity=Maturity(self.maturity.assessed_by, self.maturity.assessed_at, self.maturity.basis)
            if self.maturity else None)


class RecipientOut(ZoneOut):
    unit: str | None


class GuardianOut(Out):
    name: str
    personal_number_last4: str = Field(description="the last four digits of the guardian's personal number; the "
                                                   "whole number is never returned")


class MaturityOut(Out):
    assessed_by: str
    assessed_at: date
    basis: str | None = Field(description="\"not stated\" when the assessment was recorded as maturity_assessed "
                                          "alone; null in the client's own view (/v1/me/consents): staff's free text")


class ConsentOut(Out):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)
    id: UUID
    client_id: UUID
    status: ConsentStatus = Field(
        description="awaiting_confirmation: recorded by the receiving (to) zone, it opens nothing until a unit of the "
                    "holding (from) zone confirms it (POST /v1/consents/{id}/confirm); expired: its period is over, or "
                    "it is a guardian's and the client has turned 18 (ended_reason came_of_age)")
    ended_reason: EndedReason | None = Field(
        description="why it no longer opens anything: revoked, period_ended, or came_of_age (a guardian's consent "
                    "ends at the client's 18th birthday: the client consents anew); null while it has not ended")
    from_: ZoneOut = Field(alias="from")
    to: RecipientOut
    categories: list[str]
    purposes: list[str]
    valid_from: datetime
    valid_until: datetime
    given_by: str
    guardian: GuardianOut | None = Field(description="the guardian who gave it; null for the client's own (and for a "
                                                     "guardian's recorded before guardians were named)")
    guardian_until: datetime | None = Field(
        description="a guardian's consent: the instant the client turns 18 (the start of the 18th birthday, "
                    "Europe/Stockholm; born 29 February: 1 March), from which it opens nothing; null for the client's own")
    form: str
    maturity_assessed: bool
    maturity: MaturityOut | None = Field(description="the maturity assessment recorded with it, or null")
    evidence_document_id: UUID | None = Field(description="the signed form or record of the consent; in the "
                                                        "client's own view (/v1/me/consents) null unless that "
                                                        "document is released to them and shows now")
    note: str | None = Field(description="the recording staff's note; null in the client's own view unless the "
                                         "client wrote it")
    recorded_by: str = Field(description="the staff member's id; `client:<blind id>` when the client gave it "
                                         "themself (POST /v1/me/consents)")
    recorded_by_unit: str | None = Field(description="null when the client gave it themself")
    recorded_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    confirmed_at: datetime | None = Field(description="when the holding zone stood behind it: at recording when one "
                                                      "of its units recorded it; null while awaiting confirmation")
    confirmed_by: str | None = Field(description="who confirmed it; 'brygga:v1-rules' for a consent the receiving "
                                                 "zone recorded before confirmation existed (counted as confirmed)")
    confirmed_by_unit: str | None


class EmergencyIn(Body):
    reason: EmergencyReasonText
    domain: DomainName = Field(default="health", description="the domain whose records the grant opens, and no other "
                                                             "(must be permitted: BRYGGA_EMERGENCY_DOMAINS)")


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


_WITHHELD = ("; null (with reason_codes empty) on a denied attempt on a document or consent that the auditor's "
             "organisations do not hold: what the server found there is the other zone's")
_WHOLE_ONLY = "; null for an auditor whose organisations are not [\"*\"] (a hash lets one test guesses of hidden fields)"


class AuditEvent(Out):
    """An audit event. An auditor sees the events whose actor, or whose document or consent, belongs to one of
    the organisations in their token's `organisations` claim; `["*"]` sees every event."""

    seq: int
    at: datetime
    actor: Actor
    action: str
    client_id: UUID | None = Field(description="the client the event is about" + _WITHHELD)
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
    prev_hash: str | None = Field(description="hex SHA-256; null until sealed" + _WHOLE_ONLY)
    hash: str | None = Field(description="hex SHA-256 over prev_hash and the event's canonical bytes; null until sealed"
                             + _WHOLE_ONLY)


class ChainHead(Out):
    seq: int
    hash: str | None = Field(description="null for an auditor of named organisations: chain hashes would let them "
                                         "test guesses of fields withheld from them")


class VerifyOut(Out):
    ok: bool
    checked: int
    head: ChainHead
    first_bad_seq: int | None
    problem: Literal["modified", "missing", "reordered", "inserted", "bad_signature", "truncated"] | None
    from_anchor_seq: int | None = Field(description="the walk began after this seq, the signed anchor of the last "
                                                    "`audit archive` (the events up to it are in the archive's file, "
                                                    "which verifies on its own); null: from the first event")


class CheckpointOut(Out):
    seq: int
    hash: str | None = Field(description="null for an auditor of named organisations (as signature): chain hashes "
                                         "would let them test guesses of fields withheld from them")
    at: datetime
    signature: str | None = Field(description="base64 Ed25519 signature (crypto/chain.py gives the signed bytes); "
                                              "null for an auditor of named organisations")
    key_id: str
    prev: str | None = Field(default=None, description=(
        "extension (format 2): hex SHA-256 of the checkpoint before it (its signed bytes, then its signature), part "
        "of what this one signs, so each checkpoint vouches for all before it; null for a format 1 checkpoint and "
        "for an auditor of named organisations"))


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
    """One read of the client's data. An auditor's extract lists those their organisations made or whose record
    they hold; a unit manager's those made by their own zone or of records their zone holds."""

    seq: int
    at: datetime
    actor: ExtractActor
    action: str
    document_id: UUID | None
    basis: str | None
    purpose: str | None
    flagged: bool


class AccessLogPage(Page[AccessLogEntry]):
    archived_before: datetime | None = Field(description="entries before this time have been archived (`audit "
                                                         "archive`, after BRYGGA_AUDIT_KEEP_YEARS) and are not "
                                                         "listed; the archive's file holds them. null: none archived")


# --- disclosures without consent (API-1.1; OSL 25:12, 26:9)
def _distinct(ids: list[UUID]) -> list[UUID]:
    if len(set(ids)) != len(ids):
        raise ValueError("names a document more than once")
    return ids


class DisclosureIn(Body):
    to_unit: Slug = Field(description="the receiving unit, of the other domain")
    ground: Ground = Field(description="under_18, ongoing_misuse (alcohol, narcotics, volatile solvents) or lpt_lrv")
    need: NeedText = Field(description="why the receiver needs it for necessary care, treatment or support (≥ 20 characters)")
    document_ids: Annotated[list[UUID], Field(min_length=1, max_length=50), AfterValidator(_distinct)] = Field(
        description="1-50 documents of the caller's unit; a short statement (category statement) rather than a whole "
                    "journal where that serves")

    def command(self) -> NewDisclosure:
        return NewDisclosure(to_unit=self.to_unit, ground=self.ground, need=self.need,
                             document_ids=tuple(self.document_ids))


class DisclosureOut(Out):
    id: UUID
    client_id: UUID
    from_unit: str
    to_unit: str
    ground: Ground
    need: str
    document_ids: list[UUID]
    decided_by: str
    decided_at: datetime


# --- block liftings (API-1.1 "Blocks: existence and lifting"; PDL 4:4)
def _whole(value: Any) -> Any:
    """A JSON number with no fraction (44.0) is the integer JSON Schema says it is; anything else stays as sent."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class BlockLiftingIn(Body):
    basis: Literal["consent", "emergency"] = Field(
        description="consent: the client agreed now; emergency: health care only, the client cannot consent")
    scope: Literal["self", "unit"] = Field(description="the requester alone, or the whole unit")
    hours: Annotated[int, Field(ge=1, le=168), BeforeValidator(_whole)] = Field(
        description="1-168; an emergency lifting at most BRYGGA_EMERGENCY_HOURS")
    reason: ReasonText = Field(description="why; at least 20 characters for an emergency lifting")
    form: Literal["written", "verbal", "electronic"] | None = Field(default=None, description="the consent's form (consent only)")
    evidence_document_id: UUID | None = Field(default=None, description="a written consent's signed form (a consent_form document)")

    def command(self) -> NewLifting:
        return NewLifting(basis=self.basis, scope=self.scope, hours=self.hours, reason=self.reason, form=self.form,
                          evidence_document_id=self.evidence_document_id)


class BlockLiftingOut(Out):
    id: UUID
    client_id: UUID
    unit: str
    user: str
    basis: Literal["consent", "emergency"]
    scope: Literal["self", "unit"]
    opened_at: datetime
    expires_at: datetime
    ended_at: datetime | None


# --- retention (API-1.1 "Retention (gallring)")
class RetentionRuleIn(Body):
    organisation: Slug
    domain: Literal["social", "health"]
    category: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="a document category, or * for every category without its own rule")
    action: Literal["cull", "keep"]
    years_after_last_entry: Annotated[int, Field(ge=1, le=100), BeforeValidator(_whole)] = Field(
        description="1-100; a health rule that culls needs at least 10 (422 below_legal_minimum, PDL 3:17)")
    research_birthdays: bool = Field(default=True, description="keep persons born on the 5th, 15th or 25th")


class RetentionOrganisationIn(Body):
    organisation: Slug
    research_municipality: bool = Field(description="a research municipality keeps everything")


class RetentionRulesIn(Body):
    items: list[RetentionRuleIn] = Field(
        max_length=1000, description="the complete rules of every organisation named here or in `organisations`: "
                                     "they replace its rules; a domain without a * rule keeps its default")
    organisations: list[RetentionOrganisationIn] = Field(
        default_factory=list, max_length=1000,
        description="research flags (extends API-1.1); an organisation named only in items is not a research one")


class RetentionRule(Out):
    organisation: str
    domain: str
    category: str
    action: Literal["cull", "keep"]
    years_after_last_entry: int
    research_birthdays: bool


class RetentionOrganisation(Out):
    organisation: str
    research_municipality: bool
    configured: bool = Field(description="false: the organisation has the defaults")


class RetentionRules(Out):
    items: list[RetentionRule]
    organisations: list[RetentionOrganisation]


class RetentionCount(Out):
    files: int
    documents: int


class RetentionDue(Out):
    files: int
    documents: int
    by_category: dict[str, int]


class RetentionZone(Out):
    organisation: str
    domain: str
    files: int
    documents: int
    due: RetentionDue
    kept: dict[Literal["research_municipality", "research_birthday", "never_culled", "keep_rule", "not_yet"],
               RetentionCount] = Field(description="files not due, by why they are kept")


class RetentionPlan(Out):
    at: date
    zones: list[RetentionZone]
    due: RetentionCount


# --- joint plans (SIP; API-1.1 "Joint plans (SIP)"; SoL 2:7, HSL 16:4)
if TYPE_CHECKING:
    EffortText = str
    ExternalText = str
    SummaryText = str
else:
    EffortText = paragraph(2000)
    ExternalText = line(200)
    SummaryText = paragraph(4000)


class UnitParticipant(Body):
    unit: Slug = Field(description="a participating unit (of either domain)")


class ExternalParticipant(Body):
    external: ExternalText = Field(description="an external participant named in words, with their role "
                                               "(\"Mamma Eva\", \"Elevhälsan, skolsköterska\", \"Försäkringskassan\")")


class EffortIn(Body):
    text: EffortText = Field(description="the effort (part 1)")
    provided_by_unit: Slug | None = Field(default=None, description="the participating unit that provides it (part 2)")
    provided_by_external: ExternalText | None = Field(
        default=None, description="the external participant that provides it (part 3: measures by others than the "
                                  "municipality and the region)")
    due: date | None = Field(default=None, description="by when")


_PARTS = ("A plan states the four parts SoL 2:7 / HSL 16:4 name, each refused by name when missing (422 "
          "validation_failed): efforts (1), each effort's provider (2), the measures of others than the "
          "municipality and the region: an effort provided_by_external, or no_measures_by_others true (3), and "
          "responsible_unit, a participating unit (4).")


class SipPlanIn(Body):
    __doc__ = "A SIP plan's content: every save states the whole plan. " + _PARTS
    title: Text
    start_date: date
    participants: Annotated[list[UnitParticipant | ExternalParticipant], Field(min_length=1, max_length=50)] = Field(
        description="participating units (the caller's among them) and external participants named in words")
    responsible_unit: Slug | None = Field(default=None, description="the participating unit with the overall "
                                                                    "responsibility for the plan (part 4, required)")
    efforts: Annotated[list[EffortIn], Field(max_length=100)] = Field(
        default_factory=list, description="the efforts, with who provides each and by when (parts 1-3, required)")
    next_follow_up: date = Field(description="when the plan is next followed up")
    no_measures_by_others: bool = Field(default=False, description="true: no measures are taken by others than the "
                                                                   "municipality and the region (part 3 stated as none)")

    def content(self) -> PlanContent:
        return PlanContent(
            title=self.title, start_date=self.start_date,
            units=tuple(p.unit for p in self.participants if isinstance(p, UnitParticipant)),
            externals=tuple(p.external for p in self.participants if isinstance(p, ExternalParticipant)),
            responsible_unit=self.responsible_unit,
            efforts=tuple(Effort(text=e.text, provided_by_unit=e.provided_by_unit,
                                 provided_by_external=e.provided_by_external, due=e.due) for e in self.efforts),
            next_follow_up=self.next_follow_up, no_measures_by_others=self.no_measures_by_others)


class UnitParticipantOut(Out):
    unit: str


class ExternalParticipantOut(Out):
    external: str


class EffortOut(Out):
    text: str
    provided_by_unit: str | None
    provided_by_external: str | None
    due: date | None


class SipContentOut(Out):
    """What one version of a plan states."""

    title: str
    start_date: date
    participants: list[UnitParticipantOut | ExternalParticipantOut]
    responsible_unit: str
    efforts: list[EffortOut]
    next_follow_up: date | None
    no_measures_by_others: bool


class SipFollowUpOut(Out):
    id: UUID
    held_on: date
    summary: str
    next_follow_up: date | None
    recorded_at: datetime
    recorded_by: str
    recorded_by_name: str | None
    recorded_by_unit: str


class SipClosedTo(Out):
    unit: str
    reason: str = Field(description="why the plan is closed to that unit now: consent_revoked, consent_expired, "
                                    "no_consent, ... (the consent test's reason)")


class SipPlanOut(SipContentOut):
    """A SIP plan as its latest version states it (the response's ETag is its version), with its follow-ups."""

    id: UUID
    client_id: UUID
    version: int
    status: Literal["active", "closed"]
    holding_unit: str = Field(description="the unit that started the plan: its zone holds it")
    next_follow_up: date | None = Field(description="the next follow-up (a recorded follow-up sets it anew)")
    follow_ups: list[SipFollowUpOut]
    closed_to: list[SipClosedTo] | None = Field(
        description="for the holding zone's callers: the participating units of other zones the plan is closed to "
                    "now (the client's SIP consent revoked, expired, missing) and why; null for other callers")
    created_at: datetime
    created_by: str
    saved_at: datetime
    saved_by: str
    saved_by_name: str | None
    saved_by_unit: str
    closed_at: datetime | None


class SipPlanSummary(Out):
    """A plan in the client's list: no content but its title."""

    id: UUID
    client_id: UUID
    title: str
    version: int
    status: Literal["active", "closed"]
    holding_unit: str
    responsible_unit: str
    start_date: date
    next_follow_up: date | None
    created_at: datetime
    updated_at: datetime


class SipVersionOut(Out):
    version: int
    saved_at: datetime
    saved_by: str
    saved_by_name: str | None
    saved_by_unit: str
    content: SipContentOut


class SipFollowUpIn(Body):
    held_on: date = Field(description="the day it was held; not in the future")
    summary: SummaryText = Field(description="what the follow-up found; stored sealed")
    next_follow_up: date | None = Field(default=None, description="the next follow-up; none: none planned")

    def command(self) -> NewFollowUp:
        return NewFollowUp(held_on=self.held_on, summary=self.summary, next_follow_up=self.next_follow_up)


class NetworkUnit(Out):
    """A unit with an active relation with the client."""

    unit: str
    name: str
    organisation: str
    domain: str
    kind: RelationKind
    since: datetime


class Network(Out):
    items: list[NetworkUnit]


# --- the client's own view (API-1.1 "The client's own view")
class Me(Out):
    """The person's own record; all null but `registered` when no unit has registered them."""

    registered: bool
    id: UUID | None
    name: str | None
    birth_date: date | None
    is_minor: bool | None


class MeConsentIn(Body):
    """An electronic consent the person gives themself (adults only: 403 minor)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)
    from_: ZoneIn = Field(alias="from", description="the zone that holds the information")
    to: RecipientIn = Field(description="the zone (or one unit of it) that may receive it")
    categories: Annotated[list[Category | Literal["*"]], Field(min_length=1, max_length=10)]
    purposes: Annotated[list[Purpose], Field(min_length=1, max_length=4)]
    valid_from: datetime | None = Field(default=None, description="default: now; not before now (a consent the "
                                                                  "person gives now cannot be dated back)")
    valid_until: datetime

    @field_validator("valid_from")
    @classmethod
    def _not_backdated(cls, value: datetime | None) -> datetime | None:
        """A consent given now does not begin in the past (insider attack 8, finding 2): the record would say it
        covered reads before it existed. Five minutes' leeway for clocks."""
        if value is not None and value.tzinfo is not None and value < datetime.now(UTC) - timedelta(minutes=5):
            raise ValueError("a consent you give now cannot begin in the past")
        return value

    def command(self) -> NewConsent:
        """Staff's command, given by the client, electronically."""
        return NewConsent(
            from_zone=Zone(self.from_.organisation, self.from_.domain),
            to_zone=Zone(self.to.organisation, self.to.domain), to_unit=self.to.unit,
            categories=tuple(self.categories), purposes=tuple(self.purposes), valid_from=self.valid_from,
            valid_until=self.valid_until, given_by="client", form="electronic")


class MeRevokeIn(Body):
    reason: ReasonText | None = Field(default=None, description="optional, in the person's own words")


class MeUnit(Out):
    id: str
    name: str | None


class MeAccessLogEntry(Out):
    """One access to the person's records, allowed or denied."""

    seq: int
    at: datetime
    action: str
    decision: Literal["allow", "deny"]
    basis: str = Field(description="consent, emergency, disclosure, own_zone, relation, role, retention, … (no ids)")
    flagged: bool = Field(description="an emergency access, reviewed by the auditors")
    unit: MeUnit | None
    organisation: str | None
    domain: str | None
    actor_name: str | None = Field(description="the staff member's name; null when BRYGGA_EXTRACT_NAMES is off")
    document_id: UUID | None = Field(description="only of a document released to the person")
    document_title: str | None
    description: str = Field(description="the access in Swedish words")


class MeDocument(Out):
    """A document its owning unit released to the person."""

    id: UUID
    title: str
    category: str
    content_type: str
    size: int
    created_at: datetime
    status: Literal["active", "shredded"]
    unit: MeUnit
    zone: ZoneOut
    released_at: datetime
    visible_from: datetime


class ReleaseIn(Body):
    visible_from: datetime | None = Field(default=None, description="a health document only: shown to the client "
                                                                    "from then (default: now)")


class ReleaseOut(Out):
    document_id: UUID
    released_at: datetime
    visible_from: datetime
    released_by_unit: str
# --- follow-up records (API-1.1 "Follow-up records and indicators")
_NOT_FUTURE = "not in the future"
_IN_EPISODE = "not in the future, nor before the opened_on of the unit's open episode for the client"


class EpisodeIn(Body):
    opened_on: date = Field(description=f"when the episode opened; {_NOT_FUTURE}. Within 12 months of the unit's last "
                                        "closed episode for the client it is reopened")


class EpisodeCloseIn(Body):
    closed_on: date = Field(description="not in the future, nor before opened_on")
    reason: Literal["completed", "moved", "dropped_out", "other"]


class ContactIn(Body):
    on: date = Field(description=_IN_EPISODE)
    kind: Literal["individual", "group", "joint", "phone", "home_visit"]
    with_unit: Slug | None = Field(default=None, description="joint only, and required there: the active unit of the "
                                                             "other domain the joint visit was held with")


class AssessmentIn(Body):
    __doc__ = "A score: AUDIT 0-40, AUDIT-C 0-12, DUDIT 0-44 (422 naming score otherwise)."
    instrument: Literal["AUDIT", "AUDIT-C", "DUDIT"]
    score: int = Field(ge=0, le=44, description="within the instrument's range: AUDIT 0-40, AUDIT-C 0-12, DUDIT 0-44")
    on: date = Field(description=_IN_EPISODE)


class InterventionIn(Body):
    kind: Literal["medication_assisted", "group", "individual", "other"]
    started_on: date = Field(description=_IN_EPISODE)
    ended_on: date | None = Field(default=None, description="not in the future, nor before started_on")


class VoidIn(Body):
    reason: ReasonText = Field(description="why the record is voided; stored sealed")


class RecordOut(Out):
    id: UUID
    client_id: UUID
    unit: str = Field(description="the unit that recorded it (and whose zone holds it)")
    recorded_at: datetime
    recorded_by: str
    voided: bool = Field(description="a voided record counts nowhere")
    voided_at: datetime | None
    void_reason: str | None


class EpisodeOut(RecordOut):
    opened_on: date
    closed_on: date | None
    reason: Literal["completed", "moved", "dropped_out", "other"] | None
    reopened: bool = Field(description="opened within 12 months of the unit's last closed episode for the client")
    status: Literal["open", "closed"]


class ContactOut(RecordOut):
    on: date
    kind: Literal["individual", "group", "joint", "phone", "home_visit"]
    with_unit: str | None
    episode_id: UUID | None = Field(description="the unit's episode open when it was recorded")


class AssessmentOut(RecordOut):
    on: date
    instrument: Literal["AUDIT", "AUDIT-C", "DUDIT"]
    score: int
    episode_id: UUID | None


class InterventionOut(RecordOut):
    started_on: date
    ended_on: date | None
    kind: Literal["medication_assisted", "group", "individual", "other"]
    episode_id: UUID | None


class IndicatorScope(Out):
    kind: Literal["unit", "zone", "organisation", "joint"]
    unit: str | None
    organisations: list[str] | None
    domain: str | None


class IndicatorCell(Out):
    measure: str = Field(description="persons; episodes_new|closed|reopened; contacts_<kind> (contacts_joint: joint "
                                      "visits); audit_first|latest_<band> and dudit_first|latest_<band> (persons by "
                                      "the band of their first and latest score in the period); interventions_<kind>")
    sex: Literal["all", "female", "male"]
    age_band: Literal["all", "0-17", "18-24", "25-34", "35-49", "50-64", "65+"]
    value: int | None = Field(description="null when suppressed")
    suppressed: bool


class IndicatorTable(Out):
    """A period's indicators for a unit, a zone, an organisation or both principals. A cell of fewer than
    BRYGGA_MIN_CELL persons is suppressed with enough other cells, over every table of the period, that no sum or
    difference of them tells fewer persons apart. Organisation and joint tables sum their units (a person served by
    two units counts in each). Accept: text/csv gives the same table."""

    period: str
    start: date
    end: date
    scope: IndicatorScope
    group_by: list[Literal["sex", "age_band"]]
    min_cell: int
    cells: list[IndicatorCell]
