-- Retention (gallring), API-1.1 "Retention"; LEGAL.md: social services' files are culled five years after the
-- last entry (old SoL 12:1-2, SoF 7:2), patient records kept at least ten years (PDL 3:17). Rules per
-- organisation, domain and category; an organisation that has set none keeps the defaults (policies/retention.py).
-- Documents gain the categories `placement`, `adoption` and `paternity`, never culled in social services.
ALTER TABLE documents DROP CONSTRAINT documents_category;
ALTER TABLE documents ADD CONSTRAINT documents_category CHECK (category IN (
    'journal_note', 'assessment', 'screening', 'treatment_plan', 'sip', 'decision', 'referral', 'consent_form',
    'other', 'statement', 'placement', 'adoption', 'paternity'));

-- An organisation's retention settings: present once an admin has set its rules (then retention_rules holds
-- them all; a domain without a `*` rule falls back to that domain's default).
CREATE TABLE retention_organisations (
    organisation           text PRIMARY KEY,
    research_municipality  boolean NOT NULL DEFAULT false,  -- keeps everything, for research
    updated_at             timestamptz NOT NULL DEFAULT now(),
    updated_by             text NOT NULL
);

CREATE TABLE retention_rules (
    organisation            text NOT NULL REFERENCES retention_organisations (organisation) ON DELETE CASCADE,
    domain                  text NOT NULL,
    category                text NOT NULL,  -- a category, or '*' for every one without its own rule
    action                  text NOT NULL CONSTRAINT retention_rules_action CHECK (action IN ('cull', 'keep')),
    years_after_last_entry  integer NOT NULL CONSTRAINT retention_rules_years CHECK (years_after_last_entry BETWEEN 1 AND 100),
    research_birthdays      boolean NOT NULL,
    PRIMARY KEY (organisation, domain, category),
    -- The floor of PDL 3:17, kept by the database too: no rule culls patient records sooner than ten years.
    CONSTRAINT retention_rules_health_minimum CHECK (NOT (domain = 'health' AND action = 'cull' AND years_after_last_entry < 10)),
    CONSTRAINT retention_rules_never_culled CHECK (NOT (domain = 'social' AND action = 'cull'
                                                        AND category IN ('placement', 'adoption', 'paternity')))
);

-- The plan groups active documents by file (client, zone) and category: an index that serves it without the table.
CREATE INDEX documents_retention ON documents (organisation, domain, client_id, category, created_at) WHERE status = 'active';

GRANT SELECT, INSERT, UPDATE, DELETE ON retention_organisations, retention_rules TO brygga_app;
