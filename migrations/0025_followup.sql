-- Follow-up records (API-1.1 "Follow-up records and indicators", issue 17): episodes, contacts, assessments and
-- interventions, per unit, read under the decision for documents of the new category `followup`. One table, a row
-- a record: what the indicators count is structured (dates, kinds, scores), never free text; the only free text,
-- a void's reason, is sealed (crypto/fields.py; service/store/keys.py SEALED). `sex` is the client's legal sex from
-- the personal number (its second last digit), kept here since the number itself is sealed; the birth date is the
-- client row's.
ALTER TABLE documents DROP CONSTRAINT documents_category;
ALTER TABLE documents ADD CONSTRAINT documents_category CHECK (category IN (
    'journal_note', 'assessment', 'screening', 'treatment_plan', 'sip', 'decision', 'referral', 'consent_form',
    'other', 'statement', 'placement', 'adoption', 'paternity', 'followup'));

CREATE TABLE followup_records (
    id                  uuid PRIMARY KEY,
    client_id           uuid NOT NULL REFERENCES clients (id),
    unit_id             text NOT NULL REFERENCES units (id),
    organisation        text NOT NULL,
    domain              text NOT NULL,
    kind                text NOT NULL CONSTRAINT followup_records_kind
                            CHECK (kind IN ('episode', 'contact', 'assessment', 'intervention')),
    sex                 text NOT NULL CONSTRAINT followup_records_sex CHECK (sex IN ('female', 'male')),
    on_date             date NOT NULL,  -- opened_on, on, on, started_on
    end_date            date,           -- an episode's closed_on, an intervention's ended_on
    detail              text,           -- a contact's or intervention's kind, an assessment's instrument
    score               integer,
    with_unit           text REFERENCES units (id),  -- a joint visit's unit of the other domain
    reopened            boolean,
    close_reason        text CONSTRAINT followup_records_close_reason
                            CHECK (close_reason IN ('completed', 'moved', 'dropped_out', 'other')),
    episode_id          uuid REFERENCES followup_records (id),  -- the unit's open episode when recorded
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_by          text NOT NULL,
    closed_at           timestamptz,
    closed_by           text,
    voided_at           timestamptz,
    voided_by           text,
    void_reason_sealed  bytea,
    CONSTRAINT followup_records_dates CHECK (end_date IS NULL OR end_date >= on_date),
    CONSTRAINT followup_records_scores CHECK (kind <> 'assessment' OR (
        (detail = 'AUDIT' AND score BETWEEN 0 AND 40) OR (detail = 'AUDIT-C' AND score BETWEEN 0 AND 12)
        OR (detail = 'DUDIT' AND score BETWEEN 0 AND 44))),
    CONSTRAINT followup_records_joint CHECK (kind <> 'contact' OR (detail = 'joint') = (with_unit IS NOT NULL)),
    CONSTRAINT followup_records_voided CHECK ((voided_at IS NULL) = (voided_by IS NULL)
                                              AND (voided_at IS NULL) = (void_reason_sealed IS NULL))
);
-- The client's records of a kind, newest first (the lists); a unit's and an organisation's over a period (indicators).
CREATE INDEX followup_records_client ON followup_records (client_id, kind, created_at, id);
CREATE INDEX followup_records_period ON followup_records (organisation, domain, on_date) WHERE voided_at IS NULL;
CREATE INDEX followup_records_unit ON followup_records (unit_id, on_date) WHERE voided_at IS NULL;

-- Never edited or deleted: voided once (voided_*), an episode closed once (end_date, close_reason, closed_*), and
-- keys reseal's owner path (reseal_only; migration 0020); nothing else.
CREATE FUNCTION followup_records_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    voiding text[] := ARRAY['voided_at', 'voided_by', 'void_reason_sealed'];
    closing text[] := ARRAY['end_date', 'close_reason', 'closed_at', 'closed_by'];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF reseal_only(OLD, NEW) THEN
            RETURN NEW;
        END IF;
        IF OLD.voided_at IS NULL AND NEW.voided_at IS NOT NULL
           AND (to_jsonb(NEW) - voiding) = (to_jsonb(OLD) - voiding) THEN
            RETURN NEW;
        END IF;
        IF OLD.kind = 'episode' AND OLD.closed_at IS NULL AND OLD.voided_at IS NULL AND NEW.closed_at IS NOT NULL
           AND (to_jsonb(NEW) - closing) = (to_jsonb(OLD) - closing) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'a follow-up record is never edited or deleted; only voided, once, and an episode closed, once'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER followup_records_kept BEFORE UPDATE OR DELETE ON followup_records
    FOR EACH ROW EXECUTE FUNCTION followup_records_are_kept();
CREATE TRIGGER followup_records_no_truncate BEFORE TRUNCATE ON followup_records
    FOR EACH STATEMENT EXECUTE FUNCTION followup_records_are_kept();

-- Owned by the owner role like every other table (migration 0020's loop ran before this one).
ALTER TABLE followup_records OWNER TO brygga_owner;
REVOKE ALL ON followup_records FROM PUBLIC;
ALTER FUNCTION followup_records_are_kept() OWNER TO brygga_owner;
GRANT SELECT, INSERT, UPDATE ON followup_records TO brygga_app;
