-- The audit log partitioned by month (#15): months older than BRYGGA_AUDIT_KEEP_YEARS leave the database by
-- `audit archive`, which writes them to a file that verifies on its own, then drops their partitions (a
-- catalogue change, not millions of deleted rows) and records a signed anchor the chain goes on from.
--
-- A month is a range of sequence numbers, not of `at`: the chain is a prefix in seq order, so what is archived
-- must be one too, and every query reads the log in seq order (a partition by `at` made each read of a record's
-- events a merge over every month, which the planner may do by sorting all of them: #13's plans again). When
-- a month begins, audit_events_roll() (the sealer calls it) makes the month's partition, a block of 2^36
-- numbers after the last one, and moves the numbering to its start; the numbers in between are never drawn
-- (the chain allows gaps). So a month's partition holds the events numbered from its roll to the next: those of
-- the month, and the few of the next recorded before the sealer rolled (a fraction of a second). The partition
-- made here holds the log so far and this month's events.
--
-- Everything else as before: the primary key on seq, the check, the indexes (0004, 0008, 0016: each partition
-- has them), statistics (on each partition: a partition's scan is estimated from its own) and append-only
-- triggers (a row trigger on the table reaches every partition; TRUNCATE triggers are per table, so each
-- partition gets its own). There is no default partition: a number outside every month (OVERRIDING SYSTEM VALUE
-- by hand) is refused.

ALTER TABLE audit_events RENAME TO audit_events_unpartitioned;
ALTER SEQUENCE audit_events_seq_seq RENAME TO audit_events_unpartitioned_seq_seq;
ALTER TABLE audit_events_unpartitioned RENAME CONSTRAINT audit_events_pkey TO audit_events_unpartitioned_pkey;
ALTER TABLE audit_events_unpartitioned RENAME CONSTRAINT audit_events_decision TO audit_events_unpartitioned_decision;
DROP INDEX audit_events_actor, audit_events_at, audit_events_unit, audit_events_flagged,
    audit_events_client_reads, audit_events_client_others, audit_events_document_reads,
    audit_events_document_others, audit_events_consent_reads, audit_events_consent_others;
DROP STATISTICS audit_events_client_zone;

CREATE TABLE audit_events (
    seq            bigint GENERATED ALWAYS AS IDENTITY,
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
    flagged        boolean NOT NULL DEFAULT false,
    CONSTRAINT audit_events_pkey PRIMARY KEY (seq)
) PARTITION BY RANGE (seq);
ALTER TABLE audit_events OWNER TO brygga_owner;
REVOKE ALL ON audit_events FROM PUBLIC;
GRANT SELECT, INSERT ON audit_events TO brygga_app;
SELECT setval('audit_events_seq_seq', last_value, is_called) FROM audit_events_unpartitioned_seq_seq;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();

-- A partition as the table's own: owned by brygga_owner (it makes them), its TRUNCATE refused, its statistics.
CREATE FUNCTION audit_events_partition_made(name text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()', name);
    -- Which zones act on a client is far from independent of the client (0008).
    EXECUTE format('CREATE STATISTICS %I (mcv, dependencies) ON client_id, actor_organisation, actor_domain FROM %I',
                   name || '_client_zone', name);
END;
$$;

-- Begin `month` (the first of a month, UTC): its partition, the 2^36 numbers after the newest one, and the
-- numbering moved to them. Nothing when `month` is not after the newest month (the sealer calls it every round
-- a month may have begun); null for a month not begun yet. Returns whether it rolled. SECURITY DEFINER: the
-- application role's sealer calls it; it can only begin the current month (or, for the owner's tests, an
-- earlier one after the newest).
CREATE FUNCTION audit_events_roll(month date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    newest record;
    name text;
BEGIN
    IF month <> date_trunc('month', month)::date THEN
        RAISE EXCEPTION 'audit_events_roll: % is not the first of a month', month USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF month > (now() AT TIME ZONE 'UTC')::date THEN
        RETURN NULL;  -- not begun here yet (the caller's clock is ahead of the database's): ask again later
    END IF;
    PERFORM pg_advisory_xact_lock(7264005);
    SELECT c.relname, to_date(substr(c.relname, 14), 'YYYY_MM') AS month,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''?(-?[0-9]+)''?\)'))[1]::bigint AS upper
    INTO newest
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'audit_events'::regclass
    ORDER BY c.relname DESC LIMIT 1;
    IF month <= newest.month THEN
        RETURN false;
    END IF;
    name := 'audit_events_' || to_char(month, 'YYYY_MM');
    EXECUTE format('CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%s) TO (%s)', name,
                   newest.upper, newest.upper + (1::bigint << 36));
    PERFORM audit_events_partition_made(name);
    PERFORM setval('audit_events_seq_seq', newest.upper, false);
    RETURN true;
END;
$$;

-- The owner makes partitions (tables in the schema) through audit_events_roll.
DO $$
BEGIN
    EXECUTE format('GRANT CREATE ON SCHEMA %I TO brygga_owner', current_schema());
END;
$$;
ALTER FUNCTION audit_events_partition_made(text) OWNER TO brygga_owner;
ALTER FUNCTION audit_events_roll(date) OWNER TO brygga_owner;
REVOKE ALL ON FUNCTION audit_events_partition_made(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_events_roll(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_events_roll(date) TO brygga_app;

-- This month's partition: the log so far and the numbers after it.
DO $$
DECLARE
    upper bigint := (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END
                     FROM audit_events_unpartitioned_seq_seq) + (1::bigint << 36);
    name text := 'audit_events_' || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    EXECUTE format('CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (MINVALUE) TO (%s)', name, upper);
    EXECUTE format('ALTER TABLE %I OWNER TO brygga_owner', name);
    PERFORM audit_events_partition_made(name);
END;
$$;

INSERT INTO audit_events OVERRIDING SYSTEM VALUE SELECT * FROM audit_events_unpartitioned;
DROP TABLE audit_events_unpartitioned;

CREATE INDEX audit_events_actor ON audit_events (actor_sub, seq);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_unit ON audit_events (actor_unit, seq);
CREATE INDEX audit_events_flagged ON audit_events (seq) WHERE flagged;
CREATE INDEX audit_events_client_reads ON audit_events (client_id, actor_organisation, actor_domain, seq)
    WHERE client_id IS NOT NULL AND decision = 'allow'
      AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list', 'document.read_metadata',
                     'document.read_content', 'consent.read', 'disclosure.create');
CREATE INDEX audit_events_client_others ON audit_events (client_id, actor_organisation, actor_domain, seq)
    WHERE client_id IS NOT NULL
      AND NOT (decision = 'deny' AND (document_id IS NOT NULL OR consent_id IS NOT NULL))
      AND NOT (decision = 'allow'
               AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list',
                              'document.read_metadata', 'document.read_content', 'consent.read', 'disclosure.create'));
CREATE INDEX audit_events_document_reads ON audit_events (document_id, seq)
    WHERE document_id IS NOT NULL AND decision = 'allow'
      AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list', 'document.read_metadata',
                     'document.read_content', 'consent.read', 'disclosure.create');
CREATE INDEX audit_events_document_others ON audit_events (document_id, seq)
    WHERE document_id IS NOT NULL
      AND NOT (decision = 'allow'
               AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list',
                              'document.read_metadata', 'document.read_content', 'consent.read', 'disclosure.create'));
CREATE INDEX audit_events_consent_reads ON audit_events (consent_id, seq)
    WHERE consent_id IS NOT NULL AND decision = 'allow'
      AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list', 'document.read_metadata',
                     'document.read_content', 'consent.read', 'disclosure.create');
CREATE INDEX audit_events_consent_others ON audit_events (consent_id, seq)
    WHERE consent_id IS NOT NULL
      AND NOT (decision = 'allow'
               AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list',
                              'document.read_metadata', 'document.read_content', 'consent.read', 'disclosure.create'));

-- Where the chain goes on from after an archive: the last archived event's seq and hash, signed as a checkpoint
-- is (crypto/chain.py), with the month the archive ends before and the SHA-256 of the file written.
CREATE TABLE audit_anchors (
    seq              bigint PRIMARY KEY,
    hash             bytea NOT NULL CONSTRAINT audit_anchors_hash CHECK (length(hash) = 32),
    at               timestamptz NOT NULL,
    key_id           text NOT NULL,
    signature        bytea NOT NULL,
    archived_before  timestamptz NOT NULL CONSTRAINT audit_anchors_before_unique UNIQUE,
    events           bigint NOT NULL,
    file_sha256      bytea NOT NULL
);
CREATE TRIGGER audit_anchors_no_update BEFORE UPDATE OR DELETE ON audit_anchors
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_anchors_no_truncate BEFORE TRUNCATE ON audit_anchors
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
ALTER TABLE audit_anchors OWNER TO brygga_owner;
REVOKE ALL ON audit_anchors FROM PUBLIC;
GRANT SELECT ON audit_anchors TO brygga_app;

-- The owner's path out of the log, as for any change to it (0004): a member of brygga_owner who first runs
-- SET brygga.audit_maintenance = 'on'. Drops `partitions` (service/audit_archive.py names the months it wrote
-- out), each only when it holds no event after `anchor_seq`, then deletes any event up to `anchor_seq` left in
-- another (one numbered by hand below the anchor). Returns how many such events it deleted.
CREATE FUNCTION audit_events_archive(partitions text[], anchor_seq bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    name text;
    later boolean;
    deleted bigint;
BEGIN
    IF NOT (current_setting('brygga.audit_maintenance', true) = 'on'
            AND pg_has_role(current_user, 'brygga_owner', 'MEMBER')) THEN
        RAISE EXCEPTION 'audit_events is append-only: archive refused' USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOREACH name IN ARRAY partitions LOOP
        IF NOT EXISTS (SELECT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                       WHERE i.inhparent = 'audit_events'::regclass AND c.relname = name) THEN
            RAISE EXCEPTION 'audit_events_archive: % is not a partition of audit_events', name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        EXECUTE format('SELECT EXISTS (SELECT FROM %I WHERE seq > $1)', name) INTO later USING anchor_seq;
        IF later THEN
            RAISE EXCEPTION 'audit_events_archive: % holds events after seq %', name, anchor_seq
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        EXECUTE format('DROP TABLE %I', name);
    END LOOP;
    DELETE FROM audit_events WHERE seq <= anchor_seq;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END;
$$;
ALTER FUNCTION audit_events_archive(text[], bigint) OWNER TO brygga_owner;
REVOKE ALL ON FUNCTION audit_events_archive(text[], bigint) FROM PUBLIC;
