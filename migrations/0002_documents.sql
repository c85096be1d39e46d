-- Encrypted documents: metadata here, content as encrypted segments (envelope encryption).
-- A document is written in one transaction with all its segments, so a failed or
-- interrupted upload leaves nothing; `status` 'shredded' keeps a tombstone.

CREATE TABLE documents (
    id               uuid PRIMARY KEY,
    client_id        uuid NOT NULL REFERENCES clients (id),
    unit_id          text NOT NULL REFERENCES units (id),
    organisation     text NOT NULL,            -- the owning zone, fixed when the document is made
    domain           text NOT NULL,
    category         text NOT NULL CONSTRAINT documents_category CHECK (category IN (
                        'journal_note', 'assessment', 'screening', 'treatment_plan', 'sip',
                        'decision', 'referral', 'consent_form', 'other')),
    title_sealed     bytea NOT NULL,
    content_type     text NOT NULL,
    size             bigint NOT NULL CONSTRAINT documents_size CHECK (size > 0),
    content_mac      bytea,                     -- keyed MAC of the plaintext, for idempotent retries
    status           text NOT NULL DEFAULT 'active' CONSTRAINT documents_status CHECK (status IN ('active', 'shredded')),
    blocked          boolean NOT NULL DEFAULT false,
    blocked_at       timestamptz,
    blocked_by       text,
    block_reason_sealed bytea,
    kek_version      integer,
    dek_wrapped      bytea,
    stream_header    bytea,
    segment_count    integer,
    idempotency_key  text CONSTRAINT documents_idempotency_key_length CHECK (length(idempotency_key) BETWEEN 1 AND 128),
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       text NOT NULL,
    shredded_at      timestamptz,
    shredded_by      text,
    shred_reason_sealed bytea,
    CONSTRAINT documents_key_present CHECK (
        (status = 'active' AND dek_wrapped IS NOT NULL AND kek_version IS NOT NULL AND stream_header IS NOT NULL AND segment_count > 0)
        OR (status = 'shredded' AND dek_wrapped IS NULL AND stream_header IS NULL AND content_mac IS NULL))
);
CREATE UNIQUE INDEX documents_idempotency ON documents (unit_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX documents_client ON documents (client_id, created_at, id);
CREATE INDEX documents_kek_version ON documents (kek_version) WHERE dek_wrapped IS NOT NULL;

CREATE TABLE document_segments (
    document_id  uuid NOT NULL REFERENCES documents (id) DEFERRABLE INITIALLY DEFERRED,  -- the row comes last, at commit
    index        integer NOT NULL CONSTRAINT document_segments_index CHECK (index >= 0),
    ciphertext   bytea NOT NULL,
    PRIMARY KEY (document_id, index)
);
-- Ciphertext does not compress: store it out of line without trying.
ALTER TABLE document_segments ALTER COLUMN ciphertext SET STORAGE EXTERNAL;
