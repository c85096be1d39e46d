-- Blocked documents by zone and category (attack report 5, finding 1): whether blocked information exists
-- for a caller whose consent names categories, and a lifted caller's list, read only the categories the caller
-- may open; before, they read every blocked document of the zone, so their time told how many blocked
-- documents of other categories the zone keeps.
CREATE INDEX documents_client_zone_category_blocked ON documents (client_id, organisation, domain, category, created_at, id)
    WHERE blocked;
