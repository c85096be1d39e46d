-- The client's follow-up records of one kind, by the unit (and zone) that holds them, newest first: a list finds
-- the units holding records by a skip scan of this index (one step a unit, whatever the count) and reads a page
-- of each unit the caller may read, never a row of a unit it may not (insider attack 10, finding 3: the time of
-- a list told how many records another zone held for the client).
CREATE INDEX followup_records_client_unit
    ON followup_records (client_id, kind, unit_id, organisation, domain, created_at, id);
