-- A list under a consent that names categories reads only those categories of the consenting zone (#11):
-- before, it read the zone's every document and dropped the others, so its time told how many documents of
-- categories the caller may not open the zone keeps. The client's index by date alone goes: while it existed
-- a plan could walk every document of the client, of every zone, and filter.
CREATE INDEX documents_client_zone_category ON documents (client_id, organisation, domain, category, created_at, id);
DROP INDEX documents_client;
