-- The object store's sweeper (service/store/s3_blobs.py) asks whether a pending id is a document's latest content:
-- by index, however many documents there are.
CREATE INDEX documents_content_id ON documents (content_id) WHERE content_id IS NOT NULL;
