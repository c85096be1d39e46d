-- A patient record younger than ten years is shredded only on a decision of IVO (PDL 3:17, 8:4; API-1.1
-- "Retention"): the tombstone keeps the decision's reference, sealed like the shred's reason (record `document`,
-- field `ivo_decision`), and only a shredded document has one.
ALTER TABLE documents
    ADD COLUMN ivo_decision_sealed bytea,
    ADD CONSTRAINT documents_ivo_decision_shredded CHECK (ivo_decision_sealed IS NULL OR status = 'shredded');
