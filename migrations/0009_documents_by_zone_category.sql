-- A list reads only what the caller may open (#11): under a consent that names categories, only those
-- categories of the consenting zone; of blocked documents (spärr, PDL 4:4), only its own unit's. Before, it
-- read the zone's every document and dropped the others, so its time told how many documents of categories
-- the caller may not open, or blocked for other units, the zone keeps.
--
-- Open documents by zone, and by zone and category; blocked ones by unit. The client's index by date alone
-- goes: while it existed a plan could walk every document of the client, of every zone, and filter.
-- documents_client_zone (0007) stays for reads of all the client's documents (the whole log's auditor).
CREATE INDEX documents_client_zone_open ON documents (client_id, organisation, domain, created_at, id)
    WHERE NOT blocked;
CREATE INDEX documents_client_zone_category ON documents (client_id, organisation, domain, category, created_at, id)
    WHERE NOT blocked;
CREATE INDEX documents_client_unit_blocked ON documents (client_id, unit_id, created_at, id) WHERE blocked;
DROP INDEX documents_client;
