-- A correction of a released document waits for the release's delay (insider attack 9, finding 4): a health
-- document released with visible_from later than its release (a result the physician tells first) would otherwise
-- show its corrected content to the client at once. A correction after release writes a hold: the document shows
-- to the client again only from the correction's instant plus the delay the release had (visible_from -
-- released_at); a release without delay makes no hold. While held, the document (every version) is out of the
-- client's view, as before its release. The release itself stays as it was given (never edited).
CREATE TABLE document_release_holds (
    document_id  uuid PRIMARY KEY REFERENCES document_releases (document_id) ON DELETE CASCADE,
    visible_from timestamptz NOT NULL
);
ALTER TABLE document_release_holds OWNER TO brygga_owner;
REVOKE ALL ON document_release_holds FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON document_release_holds TO brygga_app;
