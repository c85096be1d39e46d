-- Every read of a client's data is in the client's extract (GET /v1/clients/{id}/access-log, the person's own
-- access log; PDL 8:5): the reads added since 0016 named a client but were not read actions, so "Mina klienter"
-- (client.list), the care network (client.network), disclosure, follow-up and SIP lists and reads never showed
-- (insider attack 12, finding 1). The read indexes' predicates name service/store/audit_events.py READ_ACTIONS,
-- written out alike (tests/integration/test_audit_query_cost.py checks them): made again with the longer list.
DROP INDEX audit_events_client_reads, audit_events_client_others, audit_events_document_reads,
    audit_events_document_others, audit_events_consent_reads, audit_events_consent_others;
CREATE INDEX audit_events_client_reads ON audit_events (client_id, actor_organisation, actor_domain, seq)
    WHERE client_id IS NOT NULL AND decision = 'allow'
      AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list', 'document.read_metadata', 'document.read_content', 'consent.read', 'disclosure.create', 'client.list', 'client.network', 'disclosure.list', 'followup.list', 'followup.read', 'sip.list', 'sip.read');
CREATE INDEX audit_events_client_others ON audit_events (client_id, actor_organisation, actor_domain, seq)
    WHERE client_id IS NOT NULL
      AND NOT (decision = 'deny' AND (document_id IS NOT NULL OR consent_id IS NOT NULL))
      AND NOT (decision = 'allow' AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list', 'document.read_metadata', 'document.read_content', 'consent.read', 'disclosure.create', 'client.list', 'client.network', 'disclosure.list', 'followup.list', 'followup.read', 'sip.list', 'sip.read'));
CREATE INDEX audit_events_document_reads ON audit_events (document_id, seq)
    WHERE document_id IS NOT NULL AND decision = 'allow'
      AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list', 'document.read_metadata', 'document.read_content', 'consent.read', 'disclosure.create', 'client.list', 'client.network', 'disclosure.list', 'followup.list', 'followup.read', 'sip.list', 'sip.read');
CREATE INDEX audit_events_document_others ON audit_events (document_id, seq)
    WHERE document_id IS NOT NULL
      AND NOT (decision = 'allow' AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list', 'document.read_metadata', 'document.read_content', 'consent.read', 'disclosure.create', 'client.list', 'client.network', 'disclosure.list', 'followup.list', 'followup.read', 'sip.list', 'sip.read'));
CREATE INDEX audit_events_consent_reads ON audit_events (consent_id, seq)
    WHERE consent_id IS NOT NULL AND decision = 'allow'
      AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list', 'document.read_metadata', 'document.read_content', 'consent.read', 'disclosure.create', 'client.list', 'client.network', 'disclosure.list', 'followup.list', 'followup.read', 'sip.list', 'sip.read');
CREATE INDEX audit_events_consent_others ON audit_events (consent_id, seq)
    WHERE consent_id IS NOT NULL
      AND NOT (decision = 'allow' AND action IN ('client.lookup', 'client.read', 'relation.list', 'document.list', 'document.read_metadata', 'document.read_content', 'consent.read', 'disclosure.create', 'client.list', 'client.network', 'disclosure.list', 'followup.list', 'followup.read', 'sip.list', 'sip.read'));
