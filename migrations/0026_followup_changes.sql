-- Indicators (issue 17): a counter of changes to each unit's follow-up records, bumped in the writing transaction by
-- a trigger, so a replica can keep a year's suppressed indicator tables until the records change: the counters read
-- before the records name the data the tables were made from, the same on every replica. One row a unit (writers of
-- one unit wait on it only until they commit; recording already serialises per client and unit), no round trip added.
CREATE TABLE followup_changes (
    unit_id  text PRIMARY KEY REFERENCES units (id),
    changes  bigint NOT NULL
);

CREATE FUNCTION followup_records_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO followup_changes AS f (unit_id, changes) VALUES (NEW.unit_id, 1)
        ON CONFLICT (unit_id) DO UPDATE SET changes = f.changes + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER followup_records_changed AFTER INSERT OR UPDATE ON followup_records
    FOR EACH ROW EXECUTE FUNCTION followup_records_changed();

INSERT INTO followup_changes (unit_id, changes) SELECT unit_id, count(*) FROM followup_records GROUP BY unit_id;

ALTER TABLE followup_changes OWNER TO brygga_owner;
REVOKE ALL ON followup_changes FROM PUBLIC;
ALTER FUNCTION followup_records_changed() OWNER TO brygga_owner;
GRANT SELECT, INSERT, UPDATE ON followup_changes TO brygga_app;
