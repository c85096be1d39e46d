-- `audit archive` (#15) takes the archived months out of the log in its one transaction by detaching their
-- partitions (a catalogue change) instead of dropping them: a DROP frees the partition's files when it commits,
-- still holding the log's lock, so with 10^7 events the transaction took 1.4 s during which no event could be
-- recorded. A detached partition is renamed archived_<name> and dropped right after, in a transaction of its own
-- that locks nothing the service uses (audit_events_drop_archived); a crash in between leaves it for the next
-- `audit archive`, which drops it first. The events it holds are those the verified file holds.
-- The maintenance check now refuses a session that never set brygga.audit_maintenance: 0023's
-- `NOT (setting = 'on' AND ...)` was NOT (NULL) there, which let the call through (the function is the owner's
-- only, so this took away a guard against the owner's mistakes, not a road for the service's role).
CREATE OR REPLACE FUNCTION audit_events_archive(partitions text[], anchor_seq bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    name text;
    later boolean;
    deleted bigint;
BEGIN
    IF current_setting('brygga.audit_maintenance', true) IS DISTINCT FROM 'on'
            OR NOT pg_has_role(current_user, 'brygga_owner', 'MEMBER') THEN
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
        EXECUTE format('ALTER TABLE audit_events DETACH PARTITION %I', name);
        EXECUTE format('ALTER TABLE %I RENAME TO %I', name, 'archived_' || name);
    END LOOP;
    DELETE FROM audit_events WHERE seq <= anchor_seq;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END;
$$;

-- The detached months (archived_audit_events_YYYY_MM, in the log's schema), dropped; how many.
CREATE FUNCTION audit_events_drop_archived() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    name text;
    dropped integer := 0;
BEGIN
    IF current_setting('brygga.audit_maintenance', true) IS DISTINCT FROM 'on'
            OR NOT pg_has_role(current_user, 'brygga_owner', 'MEMBER') THEN
        RAISE EXCEPTION 'audit_events is append-only: drop refused' USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOR name IN SELECT c.relname FROM pg_class c
                WHERE c.relname LIKE 'archived\_audit\_events\_%' AND c.relkind = 'r' AND NOT c.relispartition
                  AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = 'audit_events'::regclass)
                ORDER BY c.relname LOOP
        EXECUTE format('DROP TABLE %I', name);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END;
$$;
ALTER FUNCTION audit_events_drop_archived() OWNER TO brygga_owner;
REVOKE ALL ON FUNCTION audit_events_drop_archived() FROM PUBLIC;
