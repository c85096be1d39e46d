-- Audit: owner and application roles, the hash chain beside the events, signed
-- checkpoints, emergency reviews. Run by a role that may create roles (the
-- embedded server's superuser, or the owner a DBA names): see README "Database roles".

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'brygga_owner') THEN
        CREATE ROLE brygga_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'brygga_app') THEN
        CREATE ROLE brygga_app NOLOGIN;
    END IF;
    IF NOT pg_has_role(current_user, 'brygga_owner', 'MEMBER') THEN
        EXECUTE format('GRANT brygga_owner TO %I', current_user);
    END IF;
END;
$$;

-- The chain: one row per sealed event, written by the sealer only, never changed.
CREATE TABLE audit_chain (
    seq        bigint PRIMARY KEY,
    prev_seq   bigint NOT NULL,
    prev_hash  bytea NOT NULL CONSTRAINT audit_chain_prev_hash CHECK (length(prev_hash) = 32),
    hash       bytea NOT NULL CONSTRAINT audit_chain_hash CHECK (length(hash) = 32),
    sealed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE audit_checkpoints (
    seq        bigint PRIMARY KEY,
    hash       bytea NOT NULL CONSTRAINT audit_checkpoints_hash CHECK (length(hash) = 32),
    at         timestamptz NOT NULL,
    key_id     text NOT NULL,
    signature  bytea NOT NULL
);

-- One verdict per emergency access; a verdict is final.
CREATE TABLE emergency_reviews (
    grant_id          uuid PRIMARY KEY REFERENCES emergency_grants (id),
    verdict           text NOT NULL CONSTRAINT emergency_reviews_verdict CHECK (verdict IN ('justified', 'unjustified')),
    comment_sealed    bytea,
    reviewed_by       text NOT NULL,
    reviewed_by_name  text,
    reviewed_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_unit ON audit_events (actor_unit, seq);
CREATE INDEX audit_events_flagged ON audit_events (seq) WHERE flagged;
CREATE INDEX emergency_grants_opened ON emergency_grants (opened_at);

-- Append-only for everyone, but an explicit maintenance path the service never takes:
-- a member of brygga_owner who first runs SET brygga.audit_maintenance = 'on'.
CREATE OR REPLACE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('brygga.audit_maintenance', true) = 'on' AND pg_has_role(current_user, 'brygga_owner', 'MEMBER') THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_chain_no_update BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER emergency_reviews_no_update BEFORE UPDATE OR DELETE ON emergency_reviews
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER emergency_reviews_no_truncate BEFORE TRUNCATE ON emergency_reviews
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();

-- Ownership to the owner role; the application role gets what the service does, no more.
DO $$
DECLARE
    name text;
BEGIN
    FOR name IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'schema_migrations' LOOP
        EXECUTE format('ALTER TABLE %I OWNER TO brygga_owner', name);
        EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', name);
    END LOOP;
    FOR name IN SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO brygga_owner', name);
    END LOOP;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO brygga_app', current_schema());
END;
$$;

GRANT SELECT ON schema_migrations TO brygga_app;
GRANT SELECT, INSERT, UPDATE ON units, relations, documents, consents TO brygga_app;
GRANT SELECT, INSERT ON clients, emergency_grants, emergency_reviews TO brygga_app;
GRANT SELECT, INSERT, DELETE ON document_segments TO brygga_app;
-- The log: read and append, nothing else (and the triggers besides).
GRANT SELECT, INSERT ON audit_events, audit_chain, audit_checkpoints TO brygga_app;
