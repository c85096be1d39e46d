-- Indicators (insider attack 10, finding 2): the instant a year's tables were first given. Every table of the year
-- is made from the records as they stood then (created before it, not voided before it, an episode closed after it
-- counted as open), so a record dated back into the year, a void or an episode closed later changes no published
-- cell: what was published stays published, and suppressed stays suppressed. One row a year, written once by the
-- first read after the year ended (a month or quarter is given only then), the same on every replica.
CREATE TABLE indicator_years (
    year       integer PRIMARY KEY,
    frozen_at  timestamptz NOT NULL
);
ALTER TABLE indicator_years OWNER TO brygga_owner;
REVOKE ALL ON indicator_years FROM PUBLIC;
GRANT SELECT, INSERT ON indicator_years TO brygga_app;
