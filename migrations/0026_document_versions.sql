-- Corrections (API-1.1 "Corrections and reorganisations", issue 22): a wrong record is corrected by a new version,
-- never by deleting the old one (PDL 3:14: record content is not removed; the correction shows the old and the new,
-- when and by whom). The document keeps its id, and with it every rule that names it (consents by category,
-- disclosures, blocks, liftings, releases to the client): `documents` holds the latest version, and each version it
-- replaced is a row here, with the reason, who corrected it and when, and the version that superseded it.
--
-- Each version's content is encrypted under its own data key like any upload, and identified by its content id:
-- its segments are stored under it, its key is wrapped bound to it, its stream's segments authenticate it. An
-- uncorrected document's content id is its own id (documents.content_id NULL); a correction gives the new content a
-- new one. So a document's first version keeps the segments and key its upload wrote, moved here untouched.
ALTER TABLE documents
    ADD COLUMN content_id uuid,                               -- the latest version's content (NULL: the document's id)
    ADD COLUMN version_count integer NOT NULL DEFAULT 1 CONSTRAINT documents_version_count CHECK (version_count >= 1),
    ADD COLUMN version_at timestamptz,                        -- when and by whom the latest version was made (NULL:
    ADD COLUMN version_by text;                               -- the upload's created_at and created_by)

-- Segments belong to a content id: a document's own or one of its versions'.
ALTER TABLE document_segments DROP CONSTRAINT document_segments_document_id_fkey;

CREATE TABLE document_versions (
    id              uuid PRIMARY KEY,
    document_id     uuid NOT NULL REFERENCES documents (id),
    number          integer NOT NULL CONSTRAINT document_versions_number CHECK (number >= 1),
    content_id      uuid NOT NULL CONSTRAINT document_versions_content UNIQUE,
    title_sealed    bytea NOT NULL,                           -- sealed to the version (record document_version, id)
    content_type    text NOT NULL,
    size            bigint NOT NULL CONSTRAINT document_versions_size CHECK (size > 0),
    content_mac     bytea,
    status          text NOT NULL DEFAULT 'active' CONSTRAINT document_versions_status CHECK (status IN ('active', 'shredded')),
    kek_version     integer,
    dek_wrapped     bytea,
    stream_header   bytea,
    segment_count   integer NOT NULL,
    epoch           text,
    created_at      timestamptz NOT NULL,                     -- when this version was made, and by whom
    created_by      text NOT NULL,
    corrected_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    corrected_by    text NOT NULL,
    corrected_by_unit text NOT NULL REFERENCES units (id),
    reason_sealed   bytea NOT NULL,
    superseded_by   uuid NOT NULL,                            -- the content id of the version that replaced it
    shredded_at     timestamptz,
    CONSTRAINT document_versions_numbered UNIQUE (document_id, number),
    CONSTRAINT document_versions_key_present CHECK (
        (status = 'active' AND dek_wrapped IS NOT NULL AND kek_version IS NOT NULL AND stream_header IS NOT NULL)
        OR (status = 'shredded' AND dek_wrapped IS NULL AND stream_header IS NULL AND content_mac IS NULL))
);
CREATE INDEX document_versions_kek_version ON document_versions (kek_version) WHERE dek_wrapped IS NOT NULL;

-- A version is kept (PDL 3:14): never deleted, never edited, except that its data key is re-wrapped (keys rewrap,
-- a culling epoch's move: kek_version, dek_wrapped, epoch), crypto-shredded with its document (shredding or
-- culling take every version), and re-sealed by the owner's maintenance path (reseal_only, migration 0020).
CREATE FUNCTION document_versions_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rewrap text[] := ARRAY['kek_version', 'dek_wrapped', 'epoch'];
    shred  text[] := ARRAY['status', 'dek_wrapped', 'stream_header', 'content_mac', 'shredded_at'];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF reseal_only(OLD, NEW) THEN
            RETURN NEW;
        END IF;
        IF OLD.dek_wrapped IS NOT NULL AND NEW.dek_wrapped IS NOT NULL
           AND (to_jsonb(NEW) - rewrap) = (to_jsonb(OLD) - rewrap) THEN
            RETURN NEW;
        END IF;
        IF OLD.status = 'active' AND NEW.status = 'shredded' AND (to_jsonb(NEW) - shred) = (to_jsonb(OLD) - shred) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'a document version is never edited or deleted; only re-wrapped, shredded with its document, or resealed'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER document_versions_kept BEFORE UPDATE OR DELETE ON document_versions
    FOR EACH ROW EXECUTE FUNCTION document_versions_are_kept();
CREATE TRIGGER document_versions_no_truncate BEFORE TRUNCATE ON document_versions
    FOR EACH STATEMENT EXECUTE FUNCTION document_versions_are_kept();

ALTER TABLE document_versions OWNER TO brygga_owner;
REVOKE ALL ON document_versions FROM PUBLIC;
ALTER FUNCTION document_versions_are_kept() OWNER TO brygga_owner;
GRANT SELECT, INSERT, UPDATE ON document_versions TO brygga_app;
