-- The change counter of migration 0029, bumped once a statement instead of once a row: the statement's rows (a
-- transition table) counted by unit and year in one upsert. Before, one transaction writing many follow-up records
-- (an import, `keys reseal`'s batches, a bulk load) upserted the same counter row once per record, and each upsert
-- walked that row's versions made earlier in the transaction: quadratic in the records of one unit and year. The
-- counts are the same: each inserted or updated row adds one to its unit and year.
DROP TRIGGER followup_records_changed ON followup_records;

CREATE OR REPLACE FUNCTION followup_records_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO followup_changes AS f (unit_id, year, changes)
        SELECT unit_id, extract(year FROM on_date)::integer, count(*) FROM changed GROUP BY 1, 2
        ON CONFLICT (unit_id, year) DO UPDATE SET changes = f.changes + EXCLUDED.changes;
    RETURN NULL;
END $$;
-- A trigger with a transition table has one event: one for inserts (the name 0029's had) and one for updates.
CREATE TRIGGER followup_records_changed AFTER INSERT ON followup_records
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION followup_records_changed();
CREATE TRIGGER followup_records_changed_by_update AFTER UPDATE ON followup_records
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION followup_records_changed();
