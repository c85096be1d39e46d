"""The audit hash chain and its signed checkpoints: encoding, linking, verification.

Format (version 1), so that an auditor can re-implement it:

- An event's canonical bytes are the UTF-8 JSON array (no spaces, non-ASCII kept)
  of its fields in `EVENT_FIELDS` order, prefixed by the format version 1:
  `[1,seq,at_us,actor_sub,...,flagged]`; `at_us` is microseconds since the Unix
  epoch (UTC), ids are lower-case hyphenated UUID strings, absent values `null`,
  role and reason lists as JSON arrays of strings.
- `hash(n) = SHA-256(hash(prev) || canonical(n))` where `prev` is the sealed event
  before `n` in sequence order (sequence numbers may have gaps: rolled-back
  transactions consume them) and the first event's `hash(prev)` is 32 zero bytes.
- A checkpoint signs, with Ed25519, the bytes
  `brygga-audit-checkpoint/2\\n{key_id}\\n{seq}\\n{hash hex}\\n{at_us}\\n{prev hex}`, where `prev` is the
  digest of the checkpoint signed before it, `SHA-256(SHA-256(its message) || its signature)` (the inner hash
  fixes where the message ends, so no two checkpoints share a digest), so that each checkpoint vouches for every
  one before it in its run; 32 zero bytes where it vouches for none (the first, the first under a new key, the
  first after a takeover whose newest checkpoint's signature did not hold). Checkpoints signed before format 2 have no
  `prev` and sign `brygga-audit-checkpoint/1\\n{key_id}\\n{seq}\\n{hash hex}\\n{at_us}`; both verify.

`ChainVerifier` walks rows in sequence order, holding O(1) state, and reports the
first bad sequence number and why: modified, missing, reordered, inserted,
bad_signature or truncated. The database hands it rows in sequence order; an
export file hands them in the order of its lines, which an editor can change, so
the verifier also checks that order. Two events swapped are `reordered` at the
lower seq whether their contents traded seqs (all the database allows) or whole
lines traded places in a file: the same tampering gets the same answer online and
offline. Without a secret in the chain itself, someone who rewrites the whole tail
after an event can only be caught by a signed checkpoint (or one the auditor kept);
that is what checkpoints are for.
"""
from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT_VERSION = 1
GENESIS = bytes(32)
EVENT_FIELDS = (
    "seq", "at_us", "actor_sub", "actor_name", "actor_unit", "actor_organisation", "actor_domain", "actor_roles",
    "action", "client_id", "document_id", "consent_id", "decision", "basis", "reason_codes", "purpose",
    "request_id", "remote_addr", "flagged",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Values: TypeAlias = Sequence[object]
"""An event's `EVENT_FIELDS` values, in order (JSON scalars and lists of strings): a tuple, list or row slice."""


def _make_encoder() -> Callable[[object], str]:
    """json.dumps(v, ensure_ascii=False, separators=(",", ":")), with its C encoder built once, not per call.

    JSONEncoder.encode builds a new C encoder on every call, a third of a verification's
    time; the output is the same bytes (tests/unit/test_crypto_chain.py checks).
    """
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
    slow = encoder.encode
    try:
        from _json import make_encoder
    except ImportError:  # not CPython: the pure encoder gives the same bytes, slower
        return slow
    chunks = make_encoder(None, encoder.default, json.encoder.encode_basestring, None, ":", ",",
                          False, False, True)
    return lambda values: "".join(chunks(values, 0))


_encode = _make_encoder()


def canonical(values: Values) -> bytes:
    """The canonical bytes of an event given as its `EVENT_FIELDS` values, in order."""
    if len(values) != len(EVENT_FIELDS):
        raise ValueError(f"an event has {len(EVENT_FIELDS)} fields, got {len(values)}")
    return _encode([FORMAT_VERSION, *values]).encode()


def link(prev_hash: bytes, values: Values) -> bytes:
    """The chain hash of an event after `prev_hash`."""
    return hashlib.sha256(prev_hash + canonical(values)).digest()


def micros(at: datetime) -> int:
    """Microseconds since the epoch, exactly (no float on the way)."""
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def checkpoint_message(key_id: str, seq: int, chain_hash: bytes, at_us: int, prev: bytes | None = None) -> bytes:
    """What a checkpoint signs: format 2 with `prev` (the digest of the checkpoint before it), format 1 without."""
    if prev is None:
        return f"brygga-audit-checkpoint/1\n{key_id}\n{seq}\n{chain_hash.hex()}\n{at_us}".encode()
    if len(prev) != 32:
        raise ValueError("a checkpoint's prev is a 32-byte digest")
    return f"brygga-audit-checkpoint/2\n{key_id}\n{seq}\n{chain_hash.hex()}\n{at_us}\n{prev.hex()}".encode()


def sign_checkpoint(key: Ed25519PrivateKey, key_id: str, seq: int, chain_hash: bytes, at_us: int,
                    prev: bytes | None = None) -> bytes:
    return key.sign(checkpoint_message(key_id, seq, chain_hash, at_us, prev))


def checkpoint_digest(checkpoint: Checkpoint) -> bytes:
    """The digest the checkpoint after this one signs as its `prev`: SHA-256(SHA-256(message) || signature), so it
    covers this one's own `prev`, and through it every checkpoint before. The message hashed first: hashed as
    `message || signature`, a format 1 message (ending in digits) with its last digits moved to the front of the
    signature was another checkpoint (another time) with the same digest (found in review)."""
    message = checkpoint_message(checkpoint.key_id, checkpoint.seq, checkpoint.hash, checkpoint.at_us, checkpoint.prev)
    return hashlib.sha256(hashlib.sha256(message).digest() + checkpoint.signature).digest()


def vouching_prev(public_keys: Mapping[str, Ed25519PublicKey], before: Checkpoint | None) -> bytes:
    """The `prev` a checkpoint signed after `before` signs: its digest when its signature holds under
    `public_keys`, else 32 zero bytes (a new run). A signer vouches only for what it has seen hold: signing the
    digest of a row the database's writer forged would prove it (crypto/checkpoint_signatures.py)."""
    return checkpoint_digest(before) if before is not None and signature_holds(public_keys, before) else GENESIS


def signature_holds(public_keys: Mapping[str, Ed25519PublicKey], checkpoint: Checkpoint) -> bool:
    """Whether the checkpoint's signature is its key's over its message; False for a key not in `public_keys`."""
    key = public_keys.get(checkpoint.key_id)
    if key is None:
        return False
    try:
        key.verify(checkpoint.signature, checkpoint_message(checkpoint.key_id, checkpoint.seq, checkpoint.hash,
                                                            checkpoint.at_us, checkpoint.prev))
        return True
    except InvalidSignature:
        return False


@dataclass(frozen=True, slots=True)
class Link:
    """A sealed event's place in the chain, as stored beside it."""

    prev_seq: int
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    hash: bytes
    at_us: int
    key_id: str
    signature: bytes
    prev: bytes | None = None  # format 2: checkpoint_digest() of the checkpoint signed before it; None: format 1

    def __post_init__(self) -> None:
        if self.prev is not None and len(self.prev) != 32:
            raise ValueError("a checkpoint's prev is a 32-byte digest")


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    checked: int
    head_seq: int
    head_hash: bytes
    first_bad_seq: int | None = None
    problem: str | None = None
    start_seq: int = 0  # the archive anchor the walk began after (0: the first event)


@dataclass(frozen=True, slots=True)
class Stretch:
    """What a fork() found over a stretch of the chain, small enough to hand from a worker process to join():
    the link it began from, how far it got, how many events it accepted, whether it met the held checkpoint, and
    whether it is intact (no problem, no unsealed event, and no checkpoint at or before its head that it did not
    meet: the walk here takes a stretch that has one and finds it)."""

    begun: tuple[int, bytes]
    head_seq: int
    head_hash: bytes
    checked: int
    held_met: bool
    intact: bool

    @classmethod
    def of(cls, fork: ChainVerifier, begun: tuple[int, bytes]) -> Stretch:
        return cls(begun, fork.head_seq, fork.head_hash, fork.checked, fork._held_met, fork.intact and fork.missed() is None)


ALL_SEQS = 1 << 63  # above every seq (a bigint): ChainVerifier.covered when it was given every checkpoint


def _uncovered(seq: int) -> RuntimeError:
    """An event beyond the checkpoints loaded: the caller's windows lag the walk (a bug; never passed silently)."""
    return RuntimeError(f"the walk reached seq {seq} beyond the checkpoints it was given")


def checkpoint_seq(checkpoint: Checkpoint) -> int:
    """A checkpoint's seq: the key to order or search checkpoints by."""
    return checkpoint.seq


@dataclass(slots=True)
class _Suspect:
    """A link that failed: kept while the walk looks for its partner in a swap."""

    seq: int
    values: tuple[object, ...]
    link: Link


@dataclass
class ChainVerifier:
    """Feed rows in sequence order (`add`), then `finish()`; stops at the first problem.

    After a bad link or a gap the walk goes on (cheaply) while the answer may still
    change: a swap partner, or a row that turns up after higher ones (a moved line).

    `checkpoints` maps seq → signed checkpoint; `public_keys` maps key id → key. Either all of them, or (given
    `covered`, the seq below which it has them all) a window at a time (window()): a log holds millions.
    `held` is a (seq, hash) checkpoint the auditor kept: it must still be in the chain.
    After an archive (service/audit_archive.py), `start_at` begins the walk at the signed anchor instead of the
    first event: the events up to it are in the archive's file, which verifies on its own up to that anchor.
    """

    public_keys: Mapping[str, Ed25519PublicKey]
    checkpoints: Mapping[int, Checkpoint] = field(default_factory=dict)
    held: tuple[int, bytes] | None = None
    checked: int = 0
    head_seq: int = 0
    head_hash: bytes = GENESIS
    problem: str | None = None
    first_bad_seq: int | None = None
    _unsealed_from: int | None = None
    _suspect: _Suspect | None = None
    _visited: set[int] = field(default_factory=set)  # the seqs of the window's checkpoints met
    _held_met: bool = False  # the held checkpoint met (its own flag: a held seq 0 negated was a checkpoint's seq)
    covered: int | None = None  # with windows: every checkpoint below this seq is or was in `checkpoints`
    _missed: Checkpoint | None = None  # the lowest checkpoint of an earlier window the walk passed without meeting
    _top: int | None = None  # the highest seq seen so far
    _late: int | None = None  # the lowest seq that came after a higher one: a row out of its place
    _gap: bool = False  # a link named a predecessor not seen: the walk goes on to see whether it comes later
    start_seq: int = 0
    # How a checkpoint's signature is checked when not by signature_holds() here: checked ahead of the walk
    # (crypto/checkpoint_signatures.py), with the same answer.
    signatures: Callable[[Checkpoint], bool] | None = None

    def add(self, seq: int, values: Values | None, chained: Link | None) -> bool:
        """One row: the event's values (None when only its link exists) and its link (None: not sealed yet).

        Returns False once the answer is known (further rows are ignored).
        """
        if self._top is not None and seq <= self._top:
            # Out of its place: rows come in sequence order, so only an edited file has this.
            self._late = seq if self._late is None else min(self._late, seq)
            if self.problem is None:
                self.problem, self.first_bad_seq, self._gap = "reordered", seq, True  # made final in finish()
            return True
        self._top = seq
        if self.problem is not None and self._suspect is None and not self._gap:
            return False
        if self._gap:
            return True  # only rows out of place matter now (above)
        if self._suspect is not None:
            return self._look_for_swap(self._suspect, seq, values, chained)
        if values is None:
            return self._fail(seq, "missing")  # the link survives, the event was deleted
        if chained is None:
            if self._unsealed_from is None:
                self._unsealed_from = seq  # the unsealed tail starts here, unless a sealed event follows
            return True
        if self._unsealed_from is not None:
            return self._fail(self._unsealed_from, "inserted")  # sealing goes in order: no hole before a seal
        if chained.prev_seq > self.head_seq:
            # Its predecessor in the chain is not here: gone, or its line moved further down the file.
            self.problem, self.first_bad_seq, self._gap = "missing", chained.prev_seq, True
            return True
        if chained.prev_seq < self.head_seq:
            return self._fail(self.head_seq, "inserted")  # the event before it was not in the chain
        if chained.prev_hash != self.head_hash and link(chained.prev_hash, values) == chained.hash:
            return self._fail(self.head_seq, "modified")  # intact itself: the event before it was rewritten
        if chained.prev_hash != self.head_hash or link(self.head_hash, values) != chained.hash:
            self.problem, self.first_bad_seq = "modified", seq
            self._suspect = _Suspect(seq, tuple(values), chained)
            return True
        return self._accept(seq, chained.hash)

    def start_at(self, anchor: Checkpoint) -> bool:
        """Begin after an archived part of the chain, at its signed anchor (its last event's seq and hash), before
        any row. False (bad_signature at the anchor) when its signature does not hold: an anchor moved or made up
        would hide the events before it. A held checkpoint at or before the anchor is the archive's to check,
        but one at the anchor itself must have its hash."""
        if not self._signed(anchor):
            return self._fail(anchor.seq, "bad_signature")
        self.head_seq, self.head_hash, self.start_seq = anchor.seq, anchor.hash, anchor.seq
        if self.held is not None and self.held[0] <= anchor.seq:
            self._held_met = True
            if self.held[0] == anchor.seq and self.held[1] != anchor.hash:
                return self._fail(anchor.seq, "truncated")
        return True

    def fork(self, prev_seq: int, prev_hash: bytes) -> ChainVerifier:
        """A verifier of its own for a later stretch of the chain whose first link names (prev_seq, prev_hash) as
        its predecessor, checked at once in another process (service/domain/audit_stretches.py) with
        add_lines() and add_proven() only. join() takes its result only where the chain before it is seen to end
        at exactly that link, so no stretch is believed on its own word."""
        later = {seq: checkpoint for seq, checkpoint in self.checkpoints.items() if seq > prev_seq}
        return ChainVerifier(self.public_keys, later, self.held, head_seq=prev_seq, head_hash=prev_hash,
                             signatures=self.signatures, covered=self.covered)

    def join(self, stretch: Stretch, *, low: int | None = None) -> bool:
        """Take the result of a stretch checked on its own (fork(), Stretch.of): only when this verifier is intact
        and its head is the very link the stretch began from, and the stretch is intact and went past it. With
        windows, `low` is the seq after which the stretch was checked (its checkpoints from there on were its
        own): every checkpoint up to it must have been given here, or one between would be skipped (found in
        review: a walk that stepped over numbers no event has never loaded their window). Returns whether it took
        it; when not, nothing changed and the caller walks the stretch itself."""
        if not (self.intact and stretch.intact and stretch.begun == (self.head_seq, self.head_hash)
                and stretch.head_seq > self.head_seq):
            return False
        if self.covered is not None and (low is None or self.covered <= low or not stretch.begun[0] <= low):
            return False
        self.checked += stretch.checked
        if stretch.held_met and self.held is not None and stretch.begun[0] < self.held[0] <= stretch.head_seq:
            self._held_met = True
        # An intact stretch met every checkpoint after its first link up to its head (Stretch.of).
        if self.covered is None:
            self._visited.update(seq for seq in self.checkpoints if self.head_seq < seq <= stretch.head_seq)
        else:  # its walk loaded those itself: the windows here go on after its head
            self.covered = max(self.covered, stretch.head_seq + 1)
        self._top = stretch.head_seq
        self.head_seq, self.head_hash = stretch.head_seq, stretch.head_hash
        return True

    def window(self, checkpoints: Mapping[int, Checkpoint], *, below: int) -> None:
        """The checkpoints with seqs from `covered` up to `below`, in place of those the walk has passed (at or
        below its head): it holds a window of them at a time, not a log's millions. Of those passed, the lowest one
        it did not meet is kept for finish() (it names an event not in the chain); the old window's checkpoints
        above the head stay."""
        if self.covered is None or below < self.covered:
            raise ValueError("windows follow the walk: given all checkpoints at the start, or this one below the last")
        self._missed = self.missed()
        self.checkpoints = {**{seq: checkpoint for seq, checkpoint in self.checkpoints.items() if seq > self.head_seq},
                            **checkpoints}
        self._visited = {seq for seq in self._visited if seq > self.head_seq}
        self.covered = below

    def missed(self) -> Checkpoint | None:
        """The lowest checkpoint the walk has passed (at or below its head) without meeting it, if any."""
        if self._missed is not None:
            return self._missed  # earlier windows' checkpoints are all below this one's
        passed = [seq for seq in self.checkpoints if seq <= self.head_seq and seq not in self._visited]
        return self.checkpoints[min(passed)] if passed else None

    @property
    def intact(self) -> bool:
        """No problem found and no unsealed event met so far: add_lines() may take the next events."""
        return self.problem is None and self._unsealed_from is None

    def add_versioned(self, seq: int, versioned: Values | None, prev_seq: int | None,
                      prev_hash: bytes | None, chain_hash: bytes | None) -> bool:
        """add() for rows read as `[FORMAT_VERSION, *values]` with the link's fields beside them.

        The common case (sealed, linked right) costs one encoding and one hash; anything
        else goes through add(), which classifies it.
        """
        if self._proves(seq, versioned, prev_seq, prev_hash, chain_hash):
            return self._accept(seq, chain_hash)  # type: ignore[arg-type]
        values = tuple(versioned[1:]) if versioned is not None else None
        # A link row's prev_seq and prev_hash are NOT NULL (migrations/0004): None only when chain_hash is.
        chained = Link(prev_seq, prev_hash, chain_hash) if chain_hash is not None else None  # type: ignore[arg-type]
        return self.add(seq, values, chained)

    def add_proven(self, seq: int, versioned: Values | None, prev_seq: int | None,
                   prev_hash: bytes | None, chain_hash: bytes | None) -> bool:
        """add_versioned()'s common case alone, for a stretch checked on its own (fork()): whether the event was
        accepted. When not, nothing changed (the event is left to whoever walks on with add_versioned()), unless
        a checkpoint there failed: then the verifier is no longer intact."""
        return self._proves(seq, versioned, prev_seq, prev_hash, chain_hash) and self._accept(seq, chain_hash)  # type: ignore[arg-type]

    def _proves(self, seq: int, versioned: Values | None, prev_seq: int | None, prev_hash: bytes | None,
                chain_hash: bytes | None) -> bool:
        """The event is sealed right after the head: its link follows it and hashes its canonical bytes."""
        return (chain_hash is not None and versioned is not None and self.problem is None
                and self._unsealed_from is None and seq > self.head_seq and prev_seq == self.head_seq
                and prev_hash == self.head_hash
                and hashlib.sha256(prev_hash + _encode(versioned).encode()).digest() == chain_hash)

    def add_lines(self, lines: Iterable[bytes], *, more: Callable[[int], None] | None = None) -> bool:
        """add() for the common case, many links at a time: each line is `seq"prev_seq"prev_hash"hash"bytes`,
        the seqs in decimal, the hashes in lower-case hex, then the bytes its event is to be hashed as.

        A line is accepted when, and only when, add_versioned()'s fast path would accept its event: its
        link follows the head and SHA-256(head hash || bytes) is its hash. Whoever made the bytes, they are
        then the canonical bytes the event was sealed with (SHA-256 is collision-resistant), so bytes that
        are a faithful JSON encoding of the event's values, as canonical()'s are, prove its values are the
        sealed ones. The first line not accepted (a problem, an unsealed event, bytes that differ from
        canonical()'s in some detail, a line that does not parse) stops it: the verifier stays as it was after
        the line before, and the caller hands that event and the rest to add_versioned(), which classifies it
        with canonical() itself. Returns whether every line was accepted. A line per event, and no Python
        object per value: verification at the speed of hashing (bench/audit.py part 3). With windows of checkpoints
        (`covered`), a line at or beyond `covered` raises (the caller's windows lag: a bug), unless `more` is
        given: it is asked for the window up to that line's seq + 1 (window()) where the line stands, the verifier
        then as after the line before, and the line goes on as any other (a file's walk: service/audit_file.py).
        """
        if not self.intact:
            return False
        head_seq, head_hash = self.head_seq, self.head_hash
        head_seq_text, head_hex = b"%d" % head_seq, head_hash.hex().encode()
        # The seqs _accept() must see: a checkpoint, or the held one. Looked up in the mapping itself, never copied
        # per call: a log has a checkpoint for each 10 s of sealing (millions in a year), and their union built for
        # every batch of lines cost more than the lines (10^6 events with one every 10: 29,000 -> 42,000 events/s).
        checkpoints, held_seq = self.checkpoints, self.held[0] if self.held is not None else None
        covered = self._bound
        sha256, unhexlify = hashlib.sha256, binascii.unhexlify
        checked, accepted = 0, True
        for line in lines:
            try:
                seq_text, prev_seq, prev_hex, chain_hex, encoded = line.split(b'"', 4)
                seq, chain_hash = int(seq_text), unhexlify(chain_hex)
            except (ValueError, binascii.Error):
                accepted = False
                break
            if (prev_seq != head_seq_text or prev_hex != head_hex or seq <= head_seq
                    or sha256(head_hash + encoded).digest() != chain_hash):
                accepted = False
                break
            if covered is not None and seq >= covered:
                if more is None:
                    raise _uncovered(seq)
                self._settle(checked, head_seq, head_hash)
                checked = 0
                more(seq + 1)
                checkpoints, covered = self.checkpoints, self._bound
                if covered is not None and seq >= covered:
                    raise _uncovered(seq)
            head_seq, head_seq_text, head_hash, head_hex = seq, seq_text, chain_hash, chain_hex
            if seq in checkpoints or seq == held_seq:  # _accept() checks it
                self.checked += checked
                checked = 0
                if not self._accept(seq, chain_hash):
                    return False
            else:
                checked += 1
        self._settle(checked, head_seq, head_hash)
        return accepted

    def _settle(self, checked: int, head_seq: int, head_hash: bytes) -> None:
        """What add_lines() kept in locals, into the verifier: its count of events taken since, and its head."""
        self.checked += checked
        self.head_seq, self.head_hash, self._top = head_seq, head_hash, head_seq if head_seq else self._top

    @property
    def _bound(self) -> int | None:
        """The seq every event taken must be below: `covered` with windows; None when every checkpoint was given (at
        the start, or the last window's ALL_SEQS), so an event's seq may be any integer, as in a file (an event at
        2^63 or beyond raised, found in review)."""
        return None if self.covered is None or self.covered == ALL_SEQS else self.covered

    def _accept(self, seq: int, chain_hash: bytes) -> bool:
        bound = self._bound
        if bound is not None and seq >= bound:
            raise _uncovered(seq)
        self.checked += 1
        self._top = seq  # add_versioned's fast path comes here without add()
        self.head_seq, self.head_hash = seq, chain_hash
        checkpoint = self.checkpoints.get(seq)
        if checkpoint is not None:
            self._visited.add(seq)
            if not self._checkpoint_holds(checkpoint):
                return False
        if self.held is not None and self.held[0] == seq:
            self._held_met = True
            if self.held[1] != chain_hash:
                return self._fail(seq, "truncated")
        return True

    def _signed(self, checkpoint: Checkpoint) -> bool:
        if self.signatures is not None:
            return self.signatures(checkpoint)
        return signature_holds(self.public_keys, checkpoint)

    def _checkpoint_holds(self, checkpoint: Checkpoint) -> bool:
        if not self._signed(checkpoint):
            return self._fail(checkpoint.seq, "bad_signature")
        if checkpoint.hash != self.head_hash:
            return self._fail(checkpoint.seq, "modified")  # the chain before it was rewritten
        return True

    def _look_for_swap(self, suspect: _Suspect, seq: int, values: Values | None, chained: Link | None) -> bool:
        """After a bad link at `a` (`suspect`, held in self._suspect): a later `b` whose event sealed at `a`
        (and vice versa) is a swap."""
        if values is None or chained is None:
            return True
        as_a = (suspect.seq, *tuple(values)[1:])
        as_b = (seq, *suspect.values[1:])
        if link(suspect.link.prev_hash, as_a) == suspect.link.hash or link(chained.prev_hash, as_b) == chained.hash:
            self.problem, self._suspect = "reordered", None
            return False
        return True

    def _fail(self, seq: int, problem: str) -> bool:
        self.problem, self.first_bad_seq, self._suspect, self._gap = problem, seq, None, False
        return False

    def finish(self, beyond: Checkpoint | None = None) -> Verdict:
        """The verdict; with windows, `beyond` is the first checkpoint at or after `covered` (the walk never loaded
        it), if any."""
        self._suspect, self._gap = None, False
        if self._late is not None and (self.first_bad_seq is None or self._late <= self.first_bad_seq):
            # A row turned up after a higher one: the first place out of order is the lowest such seq
            # (for two rows swapped, the lower of the two, as when their contents trade seqs).
            self.problem, self.first_bad_seq = "reordered", self._late
        if self.problem is None:
            # The lowest checkpoint not met: passed in an earlier window, in this one, or after the last.
            unmet = [self.checkpoints[seq] for seq in self.checkpoints if seq not in self._visited]
            first = min(filter(None, (self._missed, beyond, *unmet)), key=checkpoint_seq, default=None)
            if first is not None and first.seq > self.head_seq:  # a signed checkpoint names events no longer there
                problem = "truncated" if self._signed(first) else "bad_signature"
                self._fail(self.head_seq + 1 if problem == "truncated" else first.seq, problem)
            elif first is not None:  # it names an event that is not in the chain
                self._fail(first.seq, "missing" if self._signed(first) else "bad_signature")
        if self.problem is None and self.held is not None and not self._held_met:
            self._fail(self.head_seq + 1 if self.held[0] > self.head_seq else self.held[0], "truncated")
        return Verdict(ok=self.problem is None, checked=self.checked, head_seq=self.head_seq,
                       head_hash=self.head_hash, first_bad_seq=self.first_bad_seq, problem=self.problem,
                       start_seq=self.start_seq)
