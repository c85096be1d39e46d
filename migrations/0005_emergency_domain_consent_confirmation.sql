-- An emergency grant names the domain whose records it opens (issue 11, item 4).
--
-- Grants opened before this migration are given 'health': that is the domain every one
-- of them was asked for unless the caller named another (the API's default), the only
-- domain emergency access could open by default, and the domain the emergency rule of
-- coherent records (Lag (2022:913); PDL) belongs to. The opener unit's domain would be
-- the wrong value: it says where the opener works, not whose records were opened (a
-- social worker's grant was a grant to health records). A grant lasts at most
-- BRYGGA_EMERGENCY_HOURS, and one held by a unit of a domain not permitted now opens
-- nothing (policies/decide.py), so no old grant opens more than it did.
ALTER TABLE emergency_grants ADD COLUMN domain text NOT NULL DEFAULT 'health';
ALTER TABLE emergency_grants ALTER COLUMN domain DROP DEFAULT;

-- A consent the receiving (to) zone records waits for the holding (from) zone to confirm it
-- (issue 11, item 6): confirmed_at is null until then, and such a consent opens nothing.
-- One a unit of the holding zone records is confirmed as it is recorded.
ALTER TABLE consents
    ADD COLUMN confirmed_at      timestamptz,
    ADD COLUMN confirmed_by      text,
    ADD COLUMN confirmed_by_unit text REFERENCES units (id),
    ADD CONSTRAINT consents_confirmation_complete CHECK ((confirmed_at IS NULL) = (confirmed_by IS NULL));

-- Consents recorded before this migration were recorded under v1's rules, where recording
-- made a consent active whoever recorded it: they count as confirmed at their recording, and
-- keep opening what they opened. One recorded by a unit of its from zone is confirmed by its
-- recorder, exactly as a new one is. One recorded by the receiving zone names no confirming
-- person or unit: confirmed_by 'brygga:v1-rules' says it was confirmed by this rule, not by
-- anyone of the holding zone, so an auditor can find them. The trigger below is off for
-- this one statement (the same transaction: no one sees it off).
ALTER TABLE consents DISABLE TRIGGER consents_history;
UPDATE consents c
   SET confirmed_at = c.recorded_at,
       confirmed_by = CASE WHEN holder THEN c.recorded_by ELSE 'brygga:v1-rules' END,
       confirmed_by_unit = CASE WHEN holder THEN c.recorded_by_unit END
  FROM (SELECT k.id, (u.organisation, u.domain) = (k.from_organisation, k.from_domain) AS holder
          FROM consents k JOIN units u ON u.id = k.recorded_by_unit) AS recorder
 WHERE recorder.id = c.id;
ALTER TABLE consents ENABLE TRIGGER consents_history;

-- Never edited or deleted: the changes a trigger lets through are a single revocation and a
-- single confirmation (of a consent not revoked), each touching its own columns only. The
-- function keeps its name (older than confirmation) so the triggers bound to it stay as they are.
CREATE OR REPLACE FUNCTION consents_only_revoke() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    revocation   text[] := ARRAY['revoked_at', 'revoked_by', 'revoke_reason_sealed'];
    confirmation text[] := ARRAY['confirmed_at', 'confirmed_by', 'confirmed_by_unit'];
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'consents are never deleted' USING ERRCODE = 'insufficient_privilege';
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
