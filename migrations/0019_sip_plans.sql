-- Coordinated individual plans (SIP; SoL 2:7, HSL 16:4; API-1.1 "Joint plans (SIP)"). A plan is held by the zone
-- of the unit that started it; its participating units read and write it (policies/sip.py). Each save is a new
-- version, never edited: the version's content (title, participants, efforts, dates) is sealed as one field
-- (crypto/fields.py). The plan's row keeps what decisions and lists need: the holding zone, the latest version's
-- number, participating units (ids, not personal data), responsible unit, next follow-up date and title (sealed).
CREATE TABLE sip_plans (
    id                 uuid PRIMARY KEY,
    client_id          uuid NOT NULL REFERENCES clients (id),
    unit_id            text NOT NULL REFERENCES units (id),
    organisation       text NOT NULL,
    domain             text NOT NULL,
    version            integer NOT NULL CONSTRAINT sip_plans_version CHECK (version >= 1),
    participant_units  text[] NOT NULL CONSTRAINT sip_plans_participants CHECK (cardinality(participant_units) >= 1),
    responsible_unit   text NOT NULL REFERENCES units (id),
    title_sealed       bytea NOT NULL,
    start_date         date NOT NULL,
    next_follow_up     date,
    status             text NOT NULL DEFAULT 'active' CONSTRAINT sip_plans_status CHECK (status IN ('active', 'closed')),
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_by         text NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    closed_at          timestamptz,
    closed_by          text,
    CONSTRAINT sip_plans_closed_complete CHECK ((status = 'closed') = (closed_at IS NOT NULL)
                                                AND (closed_at IS NULL) = (closed_by IS NULL))
);
-- The client's plans, newest first; the plans a unit takes part in (the unit manager's overdue follow-ups).
CREATE INDEX sip_plans_client ON sip_plans (client_id, created_at, id);
CREATE INDEX sip_plans_participant_units ON sip_plans USING gin (participant_units);

CREATE TABLE sip_plan_versions (
    plan_id        uuid NOT NULL REFERENCES sip_plans (id),
    version        integer NOT NULL,
    content_sealed bytea NOT NULL,
    saved_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    saved_by       text NOT NULL,
    saved_by_name  text,
    saved_by_unit  text NOT NULL REFERENCES units (id),
    PRIMARY KEY (plan_id, version)
);

CREATE TABLE sip_follow_ups (
    id                uuid PRIMARY KEY,
    plan_id           uuid NOT NULL REFERENCES sip_plans (id),
    held_on           date NOT NULL,
    summary_sealed    bytea NOT NULL,
    next_follow_up    date,
    recorded_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    recorded_by       text NOT NULL,
    recorded_by_name  text,
    recorded_by_unit  text NOT NULL REFERENCES units (id)
);
CREATE INDEX sip_follow_ups_plan ON sip_follow_ups (plan_id, held_on, recorded_at);

-- Versions and follow-ups are the plan's history: never edited or deleted.
CREATE FUNCTION sip_history_is_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a SIP plan''s versions and follow-ups are never edited or deleted' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER sip_plan_versions_history BEFORE UPDATE OR DELETE ON sip_plan_versions
    FOR EACH ROW EXECUTE FUNCTION sip_history_is_kept();
CREATE TRIGGER sip_follow_ups_history BEFORE UPDATE OR DELETE ON sip_follow_ups
    FOR EACH ROW EXECUTE FUNCTION sip_history_is_kept();
CREATE TRIGGER sip_plan_versions_no_truncate BEFORE TRUNCATE ON sip_plan_versions
    FOR EACH STATEMENT EXECUTE FUNCTION sip_history_is_kept();
CREATE TRIGGER sip_follow_ups_no_truncate BEFORE TRUNCATE ON sip_follow_ups
    FOR EACH STATEMENT EXECUTE FUNCTION sip_history_is_kept();
CREATE TRIGGER sip_plans_no_truncate BEFORE TRUNCATE ON sip_plans
    FOR EACH STATEMENT EXECUTE FUNCTION sip_history_is_kept();

GRANT SELECT, INSERT, UPDATE ON sip_plans TO brygga_app;
GRANT SELECT, INSERT ON sip_plan_versions, sip_follow_ups TO brygga_app;
