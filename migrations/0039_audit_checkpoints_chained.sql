-- Checkpoint format 2 (crypto/chain.py): each checkpoint signs the digest of the one signed before it, so one
-- signature proves a run of them (issue #13: a quiet service signs one each 10 s, millions in a year, and each was
-- an Ed25519 verification when the log was verified). NULL: a checkpoint of format 1, signed before this.
ALTER TABLE audit_checkpoints
    ADD COLUMN prev bytea CONSTRAINT audit_checkpoints_prev CHECK (length(prev) = 32);
ALTER TABLE audit_anchors
    ADD COLUMN prev bytea CONSTRAINT audit_anchors_prev CHECK (length(prev) = 32);
-- An Ed25519 signature is 64 bytes: a checkpoint's digest (its message's hash, then its signature) must be of one
-- checkpoint only. NOT VALID: rows of before are not checked (verification judges them; it cuts runs at any other).
ALTER TABLE audit_checkpoints
    ADD CONSTRAINT audit_checkpoints_signature CHECK (length(signature) = 64) NOT VALID;
ALTER TABLE audit_anchors
    ADD CONSTRAINT audit_anchors_signature CHECK (length(signature) = 64) NOT VALID;
