-- A maintenance path through the history triggers for `keys reseal` (issue 15): re-sealing names, titles,
-- reasons and notes under the newest KEK, so that an older KEK has nothing left under it and can be retired.
-- Consents, disclosures, block liftings and the two review tables are never edited; this path lets exactly one
-- kind of change through, and only for the owner:
--
--  * who: a role in brygga_owner (current_user). The service acts as brygga_app, which is no member of it
--    (its startup `role`, service/database.py connect_options), so no request, and no statement a request could
--    be tricked into, passes. That is what admits. The setting below is not: any role may set a `brygga.*`
--    setting (custom settings carry no privilege), so it only says the owner means it, transaction by
--    transaction (set_config(..., true): gone at commit, never left on a pooled connection);
--  * when: `brygga.reseal` is 'on' in this transaction;
--  * what: an UPDATE in which nothing but `*_sealed` columns change, each from a sealed value to a sealed value
--    of the same length (the same plaintext's length: a seal adds a fixed 33 bytes), in format 1, sealed by a
--    strictly newer KEK version. That it opens to the same plaintext the database cannot check (it holds no key):
--    the command opens what it wrote and compares before it writes (service/domain/keys.py reseal_all).
--
-- Deletes and truncates stay refused, and every other change stays refused as before; the older
-- `brygga.audit_maintenance` path of audit_events_refuse_change keeps its meaning.

-- The row as jsonb with bytea in hex whatever the caller's bytea_output: the bytes are read back from it.
CREATE FUNCTION reseal_only(old_row anyelement, new_row anyelement) RETURNS boolean
    LANGUAGE plpgsql STABLE SET bytea_output = 'hex' AS $$
DECLARE
    old_json jsonb;
    new_json jsonb;
    name     text;
    before   bytea;
    after    bytea;
    changed  boolean := false;
BEGIN
    IF current_setting('brygga.reseal', true) IS DISTINCT FROM 'on'
       OR NOT pg_has_role(current_user, 'brygga_owner', 'MEMBER') THEN
        RETURN false;
    END IF;
    old_json := to_jsonb(old_row);
    new_json := to_jsonb(new_row);
    FOR name IN SELECT jsonb_object_keys(new_json) LOOP
        CONTINUE WHEN (old_json -> name) = (new_json -> name);
        IF right(name, 7) <> '_sealed'
           OR jsonb_typeof(old_json -> name) IS DISTINCT FROM 'string'
           OR jsonb_typeof(new_json -> name) IS DISTINCT FROM 'string' THEN
            RETURN false;  -- another column changed, or a sealed one appeared or went
        END IF;
        before := decode(substr(old_json ->> name, 3), 'hex');
        after := decode(substr(new_json ->> name, 3), 'hex');
        IF octet_length(before) < 5 OR octet_length(after) <> octet_length(before) OR get_byte(after, 0) <> 1
           OR substr(after, 2, 4) <= substr(before, 2, 4) THEN  -- the KEK version, big-endian: bytes compare as numbers
            RETURN false;
        END IF;
        changed := true;
    END LOOP;
    RETURN changed;
END $$;
ALTER FUNCTION reseal_only(anyelement, anyelement) OWNER TO brygga_owner;

CREATE OR REPLACE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF reseal_only(OLD, NEW) THEN
            RETURN NEW;
        END IF;
    END IF;
    IF current_setting('brygga.audit_maintenance', true) = 'on' AND pg_has_role(current_user, 'brygga_owner', 'MEMBER') THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE OR REPLACE FUNCTION consents_only_revoke() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    revocation   text[] := ARRAY['revoked_at', 'revoked_by', 'revoke_reason_sealed'];
    confirmation text[] := ARRAY['confirmed_at', 'confirmed_by', 'confirmed_by_unit'];
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'consents are never deleted' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF reseal_only(OLD, NEW) THEN
        RETURN NEW;
    END IF;
    IF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
       AND (to_jsonb(NEW) - revocation) = (to_jsonb(OLD) - revocation) THEN
        RETURN NEW;
    END IF;
    IF OLD.confirmed_at IS NULL AND NEW.confirmed_at IS NOT NULL AND OLD.revoked_at IS NULL
       AND (to_jsonb(NEW) - confirmation) = (to_jsonb(OLD) - confirmation) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'consents are never edited; only confirmed, once, and revoked, once'
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE OR REPLACE FUNCTION disclosures_are_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF reseal_only(OLD, NEW) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'a disclosure is a handing-over: never edited or deleted' USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE FUNCTION block_liftings_only_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF reseal_only(OLD, NEW) THEN
            RETURN NEW;
        END IF;
        IF OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL
           AND (to_jsonb(NEW) - 'ended_at' - 'ended_by') = (to_jsonb(OLD) - 'ended_at' - 'ended_by') THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'a block lifting is never edited or deleted; only ended early, once'
        USING ERRCODE = 'insufficient_privilege';
END $$;

-- Every table owned by the owner role, as 0004 made them and 0006 did for its own: the tables of 0011, 0012 and
-- 0014 were left to whoever ran the migrations, so the owner role had no rights on them and no owner's path
-- (this one, audit maintenance) reached them. The application role's grants stay as they are.
DO $$
DECLARE
    name text;
BEGIN
    FOR name IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'
                   AND tableowner <> 'brygga_owner' LOOP
        EXECUTE format('ALTER TABLE %I OWNER TO brygga_owner', name);
        EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', name);
    END LOOP;
    FOR name IN SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = current_schema()::regnamespace AND p.proowner <> 'brygga_owner'::regrole LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO brygga_owner', name);
    END LOOP;
END;
$$;
