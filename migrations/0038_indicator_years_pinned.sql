-- Indicators (insider attack 13): a year is published once. Its tables are made under the threshold and the units'
-- zones as they stood when the year was frozen, kept here with the freeze instant; a later BRYGGA_MIN_CELL, a new
-- unit or a unit moved to another zone no longer gives the year a second publication whose cells could be set
-- against the first (a cell suppressed in one and derived from the other). `seal`: the service's keyed seal over the
-- year, instant, threshold and zones (crypto FieldSealer, bound to them): a row the database role wrote by itself
-- (a planted threshold of 1, a freeze instant in the future) does not open, and the service refuses it. Years frozen
-- before this migration get theirs at the first use after it (the three columns null until then, written once: the
-- trigger). The stored tables are sealed from now on too (domain/indicators.py): the unsealed ones of before are
-- removed here and made again from the same frozen records (the same cells).
ALTER TABLE indicator_years ADD COLUMN min_cell integer, ADD COLUMN zones jsonb, ADD COLUMN seal bytea;
ALTER TABLE indicator_years ADD CONSTRAINT indicator_years_pinned
    CHECK ((min_cell IS NULL) = (zones IS NULL) AND (zones IS NULL) = (seal IS NULL));
-- Every freeze from now on is pinned and sealed as it is written: only the rows of before may lack them (NOT VALID:
-- they are not checked), so a row the database role inserts without them is refused, never pinned by the service.
ALTER TABLE indicator_years ADD CONSTRAINT indicator_years_sealed CHECK (seal IS NOT NULL) NOT VALID;

CREATE FUNCTION indicator_years_pinned_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.min_cell IS NOT NULL OR NEW.year IS DISTINCT FROM OLD.year OR NEW.frozen_at IS DISTINCT FROM OLD.frozen_at
    THEN
        RAISE EXCEPTION 'a year''s freeze is written once' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER indicator_years_pinned_once BEFORE UPDATE ON indicator_years
    FOR EACH ROW EXECUTE FUNCTION indicator_years_pinned_once();
ALTER FUNCTION indicator_years_pinned_once() OWNER TO brygga_owner;
GRANT UPDATE (min_cell, zones, seal) ON indicator_years TO brygga_app;

DELETE FROM indicator_tables;
