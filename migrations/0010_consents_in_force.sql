-- The consents a decision reads (#13): those of the client toward the caller's zone still in force, by the end
-- of their period, without the revoked ones. A request then costs by the consents that can open something now,
-- not by the client's consent history (service/store/facts.py _IN_FORCE; policies.consents.in_force).
-- The whole history is read by (client_id, to_organisation, to_domain) only for a denial's reasons.
CREATE INDEX consents_in_force ON consents (client_id, to_organisation, to_domain, valid_until)
    WHERE revoked_at IS NULL;
