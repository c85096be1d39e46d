-- An emergency lifting of a block is reviewed like emergency access (API-1.1 "Blocks"; PDL 4:4, HSLF-FS 2016:40
-- 4:9): one final verdict each, append-only like emergency_reviews.
CREATE TABLE block_lifting_reviews (
    lifting_id        uuid PRIMARY KEY REFERENCES block_liftings (id),
    verdict           text NOT NULL CONSTRAINT block_lifting_reviews_verdict CHECK (verdict IN ('justified', 'unjustified')),
    comment_sealed    bytea,
    reviewed_by       text NOT NULL,
    reviewed_by_name  text,
    reviewed_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TRIGGER block_lifting_reviews_no_update BEFORE UPDATE OR DELETE ON block_lifting_reviews
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER block_lifting_reviews_no_truncate BEFORE TRUNCATE ON block_lifting_reviews
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
CREATE INDEX block_liftings_emergency_opened ON block_liftings (opened_at) WHERE basis = 'emergency';
GRANT SELECT, INSERT ON block_lifting_reviews TO brygga_app;
