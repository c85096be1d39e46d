-- Foundation: units, clients, relations and the append-only audit log.
-- Constraints are named: service/store maps them to domain errors by name.

CREATE TABLE units (
    id            text PRIMARY KEY CONSTRAINT units_id_format CHECK (id ~ '^[a-z0-9][a-z0-9-]{1,63}$'),
    name          text NOT NULL CONSTRAINT units_name_length CHECK (length(name) BETWEEN 1 AND 200),
    organisation  text NOT NULL CONSTRAINT units_organisation_format CHECK (organisation ~ '^[a-z0-9][a-z0-9-]{1,63}$'),
    domain        text NOT NULL CONSTRAINT units_domain_format CHECK (domain ~ '^[a-z][a-z0-9_]{0,31}$'),
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- A client is stored only as a keyed blind index plus sealed number and name.
CREATE TABLE clients (
    id                      uuid PRIMARY KEY,
    personal_number_index   bytea NOT NULL CONSTRAINT clients_personal_number_unique UNIQUE,
    personal_number_sealed  bytea NOT NULL,
    name_sealed             bytea NOT NULL,
    birth_date              date NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    created_by_unit         text REFERENCES units (id)
);

CREATE TABLE relations (
    id          uuid PRIMARY KEY,
    client_id   uuid NOT NULL REFERENCES clients (id),
    unit_id     text NOT NULL REFERENCES units (id),
    started_at  timestamptz NOT NULL DEFAULT now(),
    started_by  text NOT NULL,
    ended_at    timestamptz,
    ended_by    text,
    CONSTRAINT relations_end_after_start CHECK (ended_at IS NULL OR ended_at >= started_at)
);
-- At most one active relation per (client, unit).
CREATE UNIQUE INDEX relations_one_active ON relations (client_id, unit_id) WHERE ended_at IS NULL;
CREATE INDEX relations_unit ON relations (unit_id, client_id);

-- One row per access decision, written in the transaction of the access.
-- No foreign keys: the log outlives what it talks about. No personal data.
CREATE TABLE audit_events (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_sub      text NOT NULL,
    actor_name     text,
    actor_unit     text,
    actor_organisation text,
    actor_domain   text,
    actor_roles    text[] NOT NULL,
    action         text NOT NULL,
    client_id      uuid,
    document_id    uuid,
    consent_id     uuid,
    decision       text NOT NULL CONSTRAINT audit_events_decision CHECK (decision IN ('allow', 'deny')),
    basis          text,
    reason_codes   text[] NOT NULL DEFAULT '{}',
    purpose        text,
    request_id     text,
    remote_addr    text,
    flagged        boolean NOT NULL DEFAULT false
);
CREATE INDEX audit_events_client ON audit_events (client_id, seq) WHERE client_id IS NOT NULL;
CREATE INDEX audit_events_actor ON audit_events (actor_sub, seq);

CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
