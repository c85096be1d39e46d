-- Temporary liftings of a client's blocks (spärr; PDL 4:4, Act 2022:913, the national block service's practice):
-- who asked, for which unit, the requester alone or the whole unit, on consent or (health care) emergency, for
-- how long (at most 7 days), with a reason. Never deleted; the only change is an early end, once.
CREATE TABLE block_liftings (
    id                    uuid PRIMARY KEY,
    client_id             uuid NOT NULL REFERENCES clients (id),
    unit_id               text NOT NULL REFERENCES units (id),
    organisation          text NOT NULL,
    domain                text NOT NULL,
    sub                   text NOT NULL,
    sub_name              text,
    basis                 text NOT NULL CONSTRAINT block_liftings_basis CHECK (basis IN ('consent', 'emergency')),
    scope                 text NOT NULL CONSTRAINT block_liftings_scope CHECK (scope IN ('self', 'unit')),
    form                  text CONSTRAINT block_liftings_form CHECK (form IN ('written', 'verbal', 'electronic')),
    evidence_document_id  uuid REFERENCES documents (id),
    reason_sealed         bytea NOT NULL,
    opened_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at            timestamptz NOT NULL,
    ended_at              timestamptz,
    ended_by              text,
    CONSTRAINT block_liftings_period CHECK (expires_at > opened_at AND expires_at <= opened_at + interval '168 hours'),
    CONSTRAINT block_liftings_form_of_basis CHECK ((basis = 'consent') = (form IS NOT NULL)),
    CONSTRAINT block_liftings_end_complete CHECK ((ended_at IS NULL) = (ended_by IS NULL))
);
-- A decision reads the caller's unit's liftings of the client that have not expired.
CREATE INDEX block_liftings_unit ON block_liftings (client_id, unit_id, expires_at);

CREATE FUNCTION block_liftings_only_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL
       AND (to_jsonb(NEW) - 'ended_at' - 'ended_by') = (to_jsonb(OLD) - 'ended_at' - 'ended_by') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a block lifting is never edited or deleted; only ended early, once'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER block_liftings_history BEFORE UPDATE OR DELETE ON block_liftings
    FOR EACH ROW EXECUTE FUNCTION block_liftings_only_end();
CREATE TRIGGER block_liftings_no_truncate BEFORE TRUNCATE ON block_liftings
    FOR EACH STATEMENT EXECUTE FUNCTION block_liftings_only_end();

-- A lifted caller's list reads the blocked documents of the zones it may open: by zone, in list order.
CREATE INDEX documents_client_zone_blocked ON documents (client_id, organisation, domain, created_at, id) WHERE blocked;

GRANT SELECT, INSERT, UPDATE ON block_liftings TO brygga_app;
