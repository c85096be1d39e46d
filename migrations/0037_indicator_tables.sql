-- Indicators (issue 17): a year's suppressed tables, made once and shared by every replica and restart instead of
-- being made again in each process's memory. Keyed by everything the tables are made from: the year, its ended
-- periods (nest indices), the threshold, the year's freeze instant (indicator_years) and the units' zones (a digest
-- of the sorted unit -> organisation, domain pairs); a change of any gives new tables under a new key. `cells`:
-- zlib-compressed JSON of the published cells' values and the suppressed cells' names only: a suppressed cell's
-- value is not stored, and no person is named (the tables hold sums over units, never a person id).
CREATE TABLE indicator_tables (
    year          integer     NOT NULL,
    published     smallint[]  NOT NULL,
    min_cell      integer     NOT NULL,
    frozen_at     timestamptz NOT NULL,
    zones_digest  bytea       NOT NULL,
    made_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    cells         bytea       NOT NULL,
    PRIMARY KEY (year, min_cell, frozen_at, published, zones_digest)
);
ALTER TABLE indicator_tables OWNER TO brygga_owner;
REVOKE ALL ON indicator_tables FROM PUBLIC;
GRANT SELECT, INSERT ON indicator_tables TO brygga_app;
