-- Checkpoint format 2 (crypto/chain.py): each checkpoint signs the digest of the one signed before it, so one
-- signature proves a run of them (issue #13: a quiet service signs one each 10 s, millions in a year, and each was
-- an Ed25519 verification when the log was verified). NULL: a checkpoint of format 1, signed before this.
ALTER TABLE audit_checkpoints
    ADD COLUMN prev bytea CONSTRAINT audit_checkpoints_prev CHECK (length(prev) = 32);
ALTER TABLE audit_anchors
    ADD COLUMN prev bytea CONSTRAINT audit_anchors_prev CHECK (length(prev) = 32);
