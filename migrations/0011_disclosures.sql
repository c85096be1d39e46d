-- Disclosure without consent between social services and health care (OSL 25:12, 26:9; API-1.1). A decision of
-- the unit holding the documents, to one unit of the other domain, with ground, need, decider and date; the
-- receiver reads exactly the documents listed. A handing-over cannot be taken back: rows are never edited or
-- deleted. Documents gain the category `statement`, written for the purpose (JO 2014: not a whole journal).
ALTER TABLE documents DROP CONSTRAINT documents_category;
ALTER TABLE documents ADD CONSTRAINT documents_category CHECK (category IN (
    'journal_note', 'assessment', 'screening', 'treatment_plan', 'sip', 'decision', 'referral', 'consent_form',
    'other', 'statement'));

CREATE TABLE disclosures (
    id                 uuid PRIMARY KEY,
    client_id          uuid NOT NULL REFERENCES clients (id),
    from_unit          text NOT NULL REFERENCES units (id),
    from_organisation  text NOT NULL,
    from_domain        text NOT NULL,
    to_unit            text NOT NULL REFERENCES units (id),
    to_organisation    text NOT NULL,
    to_domain          text NOT NULL,
    ground             text NOT NULL CONSTRAINT disclosures_ground CHECK (ground IN ('under_18', 'ongoing_misuse', 'lpt_lrv')),
    need_sealed        bytea NOT NULL,
    decided_by         text NOT NULL,
    decided_by_name    text,
    decided_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT disclosures_across_domains CHECK (from_domain <> to_domain)
);
CREATE TABLE disclosure_documents (
    disclosure_id  uuid NOT NULL REFERENCES disclosures (id),
    document_id    uuid NOT NULL REFERENCES documents (id),
    PRIMARY KEY (disclosure_id, document_id)
);
-- A decision reads what was disclosed to the caller's unit of this client; a list, what the unit made or received.
CREATE INDEX disclosures_to_unit ON disclosures (client_id, to_unit, decided_at, id);
CREATE INDEX disclosures_from_unit ON disclosures (client_id, from_unit, decided_at, id);

CREATE FUNCTION disclosures_are_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a disclosure is a handing-over: never edited or deleted' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER disclosures_history BEFORE UPDATE OR DELETE ON disclosures
    FOR EACH ROW EXECUTE FUNCTION disclosures_are_records();
CREATE TRIGGER disclosure_documents_history BEFORE UPDATE OR DELETE ON disclosure_documents
    FOR EACH ROW EXECUTE FUNCTION disclosures_are_records();
CREATE TRIGGER disclosures_no_truncate BEFORE TRUNCATE ON disclosures
    FOR EACH STATEMENT EXECUTE FUNCTION disclosures_are_records();
CREATE TRIGGER disclosure_documents_no_truncate BEFORE TRUNCATE ON disclosure_documents
    FOR EACH STATEMENT EXECUTE FUNCTION disclosures_are_records();

GRANT SELECT, INSERT ON disclosures, disclosure_documents TO brygga_app;
