-- Consents and emergency access. A consent is never edited or deleted: the only
-- change a trigger lets through is its revocation, once.

CREATE TABLE consents (
    id                    uuid PRIMARY KEY,
    client_id             uuid NOT NULL REFERENCES clients (id),
    from_organisation     text NOT NULL,
    from_domain           text NOT NULL,
    to_organisation       text NOT NULL,
    to_domain             text NOT NULL,
    to_unit               text REFERENCES units (id),
    categories            text[] NOT NULL CONSTRAINT consents_categories CHECK (cardinality(categories) > 0),
    purposes              text[] NOT NULL CONSTRAINT consents_purposes CHECK (cardinality(purposes) > 0),
    valid_from            timestamptz NOT NULL,
    valid_until           timestamptz NOT NULL,
    given_by              text NOT NULL CONSTRAINT consents_given_by CHECK (given_by IN ('client', 'guardian')),
    form                  text NOT NULL CONSTRAINT consents_form CHECK (form IN ('written', 'verbal', 'electronic')),
    maturity_assessed     boolean NOT NULL,
    evidence_document_id  uuid REFERENCES documents (id),
    note_sealed           bytea,
    recorded_by           text NOT NULL,
    recorded_by_name      text,
    recorded_by_unit      text NOT NULL REFERENCES units (id),
    recorded_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    revoked_at            timestamptz,
    revoked_by            text,
    revoke_reason_sealed  bytea,
    CONSTRAINT consents_period CHECK (valid_until > valid_from),
    CONSTRAINT consents_zones_differ CHECK ((from_organisation, from_domain) <> (to_organisation, to_domain)),
    CONSTRAINT consents_revocation_complete CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE INDEX consents_client_to_zone ON consents (client_id, to_organisation, to_domain);
CREATE INDEX consents_client ON consents (client_id, recorded_at, id);

CREATE FUNCTION consents_only_revoke() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'consents are never deleted' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.revoked_at IS NOT NULL
       OR (to_jsonb(NEW) - ARRAY['revoked_at', 'revoked_by', 'revoke_reason_sealed'])
          <> (to_jsonb(OLD) - ARRAY['revoked_at', 'revoked_by', 'revoke_reason_sealed']) THEN
        RAISE EXCEPTION 'consents are never edited; only revoked, once' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER consents_history BEFORE UPDATE OR DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION consents_only_revoke();
CREATE TRIGGER consents_no_truncate BEFORE TRUNCATE ON consents
    FOR EACH STATEMENT EXECUTE FUNCTION consents_only_revoke();

CREATE TABLE emergency_grants (
    id             uuid PRIMARY KEY,
    client_id      uuid NOT NULL REFERENCES clients (id),
    unit_id        text NOT NULL REFERENCES units (id),
    sub            text NOT NULL,
    reason_sealed  bytea NOT NULL,
    opened_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at     timestamptz NOT NULL,
    CONSTRAINT emergency_grants_period CHECK (expires_at > opened_at)
);
CREATE INDEX emergency_grants_caller ON emergency_grants (client_id, unit_id, sub, expires_at);
