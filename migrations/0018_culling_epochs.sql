-- Culling epochs (API-1.1 "Retention"; PDL 3:17: destruction reaches copies and backups). A document's data key
-- of a file that will be culled is wrapped inside its KEK wrap by the key of its culling epoch, the month its file
-- is due (crypto/envelope.py format 2); the epoch keys live in the key ring, outside the database and its backups.
-- NULL: no epoch (a file kept for ever, or stored before epochs). An epoch key is destroyed once no active
-- document's key is wrapped under it.
ALTER TABLE documents ADD COLUMN epoch text CONSTRAINT documents_epoch CHECK (epoch ~ '^[0-9]{4}-(0[1-9]|1[0-2])$');
CREATE INDEX documents_epoch ON documents (epoch, id) WHERE dek_wrapped IS NOT NULL AND epoch IS NOT NULL;
