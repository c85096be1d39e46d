-- A client's documents by zone, in list order. A list selects only the zones the caller's zone, consents
-- and grants can open (policies/candidates.py) and reads each as a range of this index: its cost is its
-- page, however many documents other zones hold for the client (#11 item 11).
CREATE INDEX documents_client_zone ON documents (client_id, organisation, domain, created_at, id);
