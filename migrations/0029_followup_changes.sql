-- Indicators (issue 17): a counter of changes to each unit's follow-up records by the year of the record's date,
-- bumped in the writing transaction by a trigger, so a replica can keep a year's suppressed indicator tables until
-- the records that can count in it change: a year's tables are named by the counters of that year and the years
-- before (an episode or intervention running from an earlier year counts in it; nothing dated later does), read
-- before the records, the same on every replica. Recording today's visit leaves last year's tables kept. One row a
-- unit and year (writers of one unit wait on it only until they commit; recording already serialises per client and
-- unit), no round trip added.
CREATE TABLE followup_changes (
    unit_id  text NOT NULL REFERENCES units (id),
    year     integer NOT NULL,
    changes  bigint NOT NULL,
    PRIMARY KEY (unit_id, year)
);

CREATE FUNCTION followup_records_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO followup_changes AS f (unit_id, year, changes)
        VALUES (NEW.unit_id, extract(year FROM NEW.on_date)::integer, 1)
        ON CONFLICT (unit_id, year) DO UPDATE SET changes = f.changes + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER followup_records_changed AFTER INSERT OR UPDATE ON followup_records
    FOR EACH ROW EXECUTE FUNCTION followup_records_changed();

INSERT INTO followup_changes (unit_id, year, changes)
SELECT unit_id, extract(year FROM on_date)::integer, count(*) FROM followup_records GROUP BY 1, 2;

ALTER TABLE followup_changes OWNER TO brygga_owner;
REVOKE ALL ON followup_changes FROM PUBLIC;
ALTER FUNCTION followup_records_changed() OWNER TO brygga_owner;
GRANT SELECT, INSERT, UPDATE ON followup_changes TO brygga_app;
