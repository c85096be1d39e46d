-- A scoped reader's view of one client's events is read from what the reader may see (#11, timing):
-- for each zone of the reader, the client's events made by that zone (by actor), and the events naming
-- a document or consent of the reader's zones (by record). Before, the client's every event was read
-- and judged row by row, so a query took longer the more events other zones kept of the client.
--
-- The client's index by seq alone goes: while it existed the planner could walk it for a scoped read
-- and judge each event (the leak), whenever its estimates made that look cheaper. Whole-log readers
-- read the client's events from the zone index instead (one range per actor zone, sorted by seq).
DROP INDEX audit_events_client;
-- Denials naming a record are left out: a reader sees one by its record (the document and consent indexes)
-- or not at all (withheld: the client of a record the reader may not see), so a range of the reader's own
-- zone never holds a client it must not learn (service/store/audit_events.py NOT_DENIED_ON_RECORD).
CREATE INDEX audit_events_client_actor_zone ON audit_events (client_id, actor_organisation, actor_domain, seq)
    WHERE client_id IS NOT NULL
      AND NOT (decision = 'deny' AND (document_id IS NOT NULL OR consent_id IS NOT NULL));
CREATE INDEX audit_events_document ON audit_events (document_id, seq) WHERE document_id IS NOT NULL;
CREATE INDEX audit_events_consent ON audit_events (consent_id, seq) WHERE consent_id IS NOT NULL;
-- Which zones act on a client is far from independent of the client: without these statistics the
-- planner multiplies a busy client's share of the log by a busy zone's share and may misjudge the range.
CREATE STATISTICS audit_events_client_zone (mcv, dependencies) ON client_id, actor_organisation, actor_domain
    FROM audit_events;
