-- The client's access-log extract reads the allowed reads of the client's data by index (#13), instead of
-- every event of the client: its ranges of 0008's indexes held all of them, and the extract read the
-- denials, the writes and the audit's own events among them only to drop them.
--
-- Each of 0008's indexes is split in two halves that share no event: the allowed reads (what the extract
-- lists) and the rest. The ranges stay those of 0008, so a scoped reader still reads only what it sees (by
-- its actors' zones, by its records); a client filter of the events reads both halves of each, the extract
-- the reads only. Disjoint, not a second index beside the first: with two indexes that both hold a range the
-- planner picks one by the statistics, so what a read touches would change with events it does not see.
-- Each event still goes into as many indexes as before.
--
-- The actions are service/store/audit_events.py READ_ACTIONS, written out alike in its queries
-- (READ, NOT_READ): only a constant lets the planner prove these predicates
-- (tests/integration/test_audit_query_cost.py compares the lists).
CREATE INDEX audit_events_client_reads ON audit_events (client_id, actor_organisation, actor_domain, seq)
    WHERE client_id IS NOT NULL AND decision = 'allow'
      AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list', 'document.read_metadata',
                     'document.read_content', 'consent.read', 'disclosure.create');
CREATE INDEX audit_events_client_others ON audit_events (client_id, actor_organisation, actor_domain, seq)
    WHERE client_id IS NOT NULL
      AND NOT (decision = 'deny' AND (document_id IS NOT NULL OR consent_id IS NOT NULL))
      AND NOT (decision = 'allow'
               AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list',
                              'document.read_metadata', 'document.read_content', 'consent.read', 'disclosure.create'));
DROP INDEX audit_events_client_actor_zone;

CREATE INDEX audit_events_document_reads ON audit_events (document_id, seq)
    WHERE document_id IS NOT NULL AND decision = 'allow'
      AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list', 'document.read_metadata',
                     'document.read_content', 'consent.read', 'disclosure.create');
CREATE INDEX audit_events_document_others ON audit_events (document_id, seq)
    WHERE document_id IS NOT NULL
      AND NOT (decision = 'allow'
               AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list',
                              'document.read_metadata', 'document.read_content', 'consent.read', 'disclosure.create'));
DROP INDEX audit_events_document;

CREATE INDEX audit_events_consent_reads ON audit_events (consent_id, seq)
    WHERE consent_id IS NOT NULL AND decision = 'allow'
      AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list', 'document.read_metadata',
                     'document.read_content', 'consent.read', 'disclosure.create');
CREATE INDEX audit_events_consent_others ON audit_events (consent_id, seq)
    WHERE consent_id IS NOT NULL
      AND NOT (decision = 'allow'
               AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list',
                              'document.read_metadata', 'document.read_content', 'consent.read', 'disclosure.create'));
DROP INDEX audit_events_consent;
