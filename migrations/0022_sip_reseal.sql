-- keys reseal reaches the SIP tables (issue 15 meets issue 16): the owner's maintenance path through their history
-- trigger (reseal_only, migration 0020: only *_sealed columns, to same-length seals of a newer KEK; 0020 gave the
-- tables to brygga_owner), and a version's key as one text value for the command's keyset walk: `<plan id>/<version, zero-padded>` (its seal is bound to
-- the plan and field content/<version>).
-- reseal_only's test on rows given as jsonb: a version's generated key is not computed yet in a BEFORE trigger
-- (NULL in NEW), so the SIP trigger leaves it out of both rows before asking.
CREATE FUNCTION reseal_only_json(old_json jsonb, new_json jsonb) RETURNS boolean
    LANGUAGE plpgsql STABLE SET bytea_output = 'hex' AS $$
DECLARE
    name     text;
    before   bytea;
    after    bytea;
    changed  boolean := false;
BEGIN
    IF current_setting('brygga.reseal', true) IS DISTINCT FROM 'on'
       OR NOT pg_has_role(current_user, 'brygga_owner', 'MEMBER') THEN
        RETURN false;
    END IF;
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
ALTER FUNCTION reseal_only_json(jsonb, jsonb) OWNER TO brygga_owner;

-- One test, two doors: reseal_only (0020) asks reseal_only_json of its rows.
CREATE OR REPLACE FUNCTION reseal_only(old_row anyelement, new_row anyelement) RETURNS boolean
    LANGUAGE sql STABLE SET bytea_output = 'hex' AS $$ SELECT reseal_only_json(to_jsonb(old_row), to_jsonb(new_row)) $$;

CREATE OR REPLACE FUNCTION sip_history_is_kept() RETURNS trigger LANGUAGE plpgsql SET bytea_output = 'hex' AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND reseal_only_json(to_jsonb(OLD) - 'seal_key', to_jsonb(NEW) - 'seal_key') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a SIP plan''s versions and follow-ups are never edited or deleted' USING ERRCODE = 'insufficient_privilege';
END;
$$;

ALTER TABLE sip_plan_versions ADD COLUMN seal_key text
    GENERATED ALWAYS AS (plan_id::text || '/' || lpad(version::text, 10, '0')) STORED;
CREATE UNIQUE INDEX sip_plan_versions_seal_key ON sip_plan_versions (seal_key);

ALTER FUNCTION sip_history_is_kept() OWNER TO brygga_owner;
