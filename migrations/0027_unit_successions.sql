-- Reorganisations (API-1.1 "Corrections and reorganisations", issue 22): a unit succeeded by another of the same
-- zone at an instant. The successor owns the predecessor's documents and active relations from then on (moved by
-- service/store/units.py succeed, in one transaction); consents and disclosures naming the predecessor are kept as
-- they were given (never edited), and honoured for the unit that succeeds it: the facts of a decision read their
-- `to_unit` through unit_heir (service/store/facts.py). Units are never renamed or deleted, so the audit log and
-- extracts keep each event's unit and its name as they were.
CREATE TABLE unit_successions (
    predecessor  text PRIMARY KEY REFERENCES units (id),   -- a unit is succeeded once
    successor    text NOT NULL REFERENCES units (id),
    effective_at timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    recorded_by  text NOT NULL,
    documents    integer NOT NULL,                          -- what moved, as the preview counted it
    relations    integer NOT NULL,
    consents     integer NOT NULL,
    disclosures  integer NOT NULL,
    CONSTRAINT unit_successions_other CHECK (predecessor <> successor)
);
CREATE INDEX unit_successions_successor ON unit_successions (successor);

-- The unit a unit's records belong to now: itself, or the last of its successors (a chain of reorganisations).
CREATE FUNCTION unit_heir(unit text) RETURNS text LANGUAGE sql STABLE AS $$
    WITH RECURSIVE chain (unit, depth) AS (
        SELECT unit, 0
        UNION ALL
        SELECT s.successor, c.depth + 1 FROM chain c JOIN unit_successions s ON s.predecessor = c.unit WHERE c.depth < 64
    )
    SELECT c.unit FROM chain c ORDER BY c.depth DESC LIMIT 1
$$;

CREATE FUNCTION unit_successions_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a succession is a record: never edited or deleted' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER unit_successions_kept BEFORE UPDATE OR DELETE ON unit_successions
    FOR EACH ROW EXECUTE FUNCTION unit_successions_are_kept();

ALTER TABLE unit_successions OWNER TO brygga_owner;
REVOKE ALL ON unit_successions FROM PUBLIC;
ALTER FUNCTION unit_heir(text) OWNER TO brygga_owner;
ALTER FUNCTION unit_successions_are_kept() OWNER TO brygga_owner;
GRANT SELECT, INSERT ON unit_successions TO brygga_app;
-- A succession moves the documents' owning unit (documents.unit_id) and ends and opens relations: the app role
-- has UPDATE on both already (migration 0004).
