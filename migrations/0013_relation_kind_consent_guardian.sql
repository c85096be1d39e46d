-- Relations carry a kind and a reason; consents name the guardian who gave them and the maturity
-- assessment they rest on (issue 14; API-1.1 "Relations", "Minors and guardians").

-- A relation's kind: care (health care's care relation, PDL 4:1), case (a social services case), sip
-- (a coordinated individual plan) or referral. Relations opened before this migration get the kind a
-- relation opened without one gets now (policies/relations.py default_kind): care for a health unit,
-- case for any other. The reason is free text, sealed like every other (crypto/fields.py); none before.
ALTER TABLE relations
    ADD COLUMN kind          text,
    ADD COLUMN reason_sealed bytea;
UPDATE relations r
   SET kind = CASE WHEN u.domain = 'health' THEN 'care' ELSE 'case' END
  FROM units u
 WHERE u.id = r.unit_id;
ALTER TABLE relations
    ALTER COLUMN kind SET NOT NULL,
    ADD CONSTRAINT relations_kind CHECK (kind IN ('care', 'case', 'sip', 'referral'));

-- The guardian of a guardian's consent (FB 6:11), both fields sealed: the personal number is never stored
-- or returned whole in the clear. Consents recorded before this migration name no guardian (none was asked
-- for): the column stays null for them, and only a guardian's consent may name one.
-- The maturity assessment behind a minor's own consent (OSL 12:3): who assessed, on which day, on what (the
-- basis sealed; null: "not stated"). One recorded before this migration was recorded as `maturity_assessed`
-- alone: it counts as assessed by its recorder on the day of its recording, basis not stated, which is what
-- `maturity_assessed: true` without the object records now. The history trigger is off for that one
-- statement, in this transaction (as in 0005).
ALTER TABLE consents
    ADD COLUMN guardian_name_sealed            bytea,
    ADD COLUMN guardian_personal_number_sealed bytea,
    ADD COLUMN maturity_assessed_by            text,
    ADD COLUMN maturity_assessed_at            date,
    ADD COLUMN maturity_basis_sealed           bytea,
    ADD CONSTRAINT consents_guardian_complete
        CHECK ((guardian_name_sealed IS NULL) = (guardian_personal_number_sealed IS NULL)),
    ADD CONSTRAINT consents_guardian_gave_it CHECK (guardian_name_sealed IS NULL OR given_by = 'guardian'),
    ADD CONSTRAINT consents_maturity_complete
        CHECK ((maturity_assessed_by IS NULL) = (maturity_assessed_at IS NULL)
               AND (maturity_basis_sealed IS NULL OR maturity_assessed_by IS NOT NULL));

ALTER TABLE consents DISABLE TRIGGER consents_history;
UPDATE consents
   SET maturity_assessed_by = recorded_by,
       maturity_assessed_at = (recorded_at AT TIME ZONE 'Europe/Stockholm')::date
 WHERE maturity_assessed;
ALTER TABLE consents ENABLE TRIGGER consents_history;

ALTER TABLE consents
    ADD CONSTRAINT consents_maturity_recorded CHECK (maturity_assessed = (maturity_assessed_by IS NOT NULL));

-- The anomaly report's relations_without_activity reads the relations opened in a window
-- (service/store/audit_review.py): by when they were opened.
CREATE INDEX relations_started ON relations (started_at);
