-- A document its owning unit released to the client's own view (API-1.1 "The client's own view"; OSL 12:1,
-- PDL 8:2). One release a document: the first stands (a second release changes nothing). A health document may
-- show from a later date (visible_from); a social one shows at once. Who released it is the staff member's sub
-- and unit, as the audit log names them. The client is the document's; kept here too for the client's list.
CREATE TABLE document_releases (
    document_id uuid PRIMARY KEY REFERENCES documents (id),
    client_id uuid NOT NULL REFERENCES clients (id),
    released_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    released_by text NOT NULL,
    released_by_unit text NOT NULL REFERENCES units (id),
    visible_from timestamptz NOT NULL,
    CHECK (visible_from >= released_at - interval '1 minute')
);
CREATE INDEX document_releases_client ON document_releases (client_id, visible_from);
ALTER TABLE document_releases OWNER TO brygga_owner;
GRANT SELECT, INSERT ON document_releases TO brygga_app;

-- A consent the client gives themself in their own view is recorded by no unit: its recorder is the client's
-- blind id (`client:<blind id>`, never the personal number), and it is confirmed as it is recorded (by them).
ALTER TABLE consents ALTER COLUMN recorded_by_unit DROP NOT NULL,
    ADD CONSTRAINT consents_recorded_by_unit_or_client
        CHECK (recorded_by_unit IS NOT NULL OR (recorded_by LIKE 'client:%' AND form = 'electronic'
                                                AND given_by = 'client'));
