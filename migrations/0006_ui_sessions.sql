-- The web interface's sessions, kept by the server so that signing out ends one
-- (issue #11 item 13): the cookie carries a random 256-bit session id, this table
-- only its SHA-256, so reading the table yields no cookie that works. The bearer
-- token is kept sealed (crypto/fields, bound to the row) because every page
-- verifies it again: its signature, its expiry, its unit still active.
-- A session is live while ended_at is null, expires_at (the token's exp) is ahead
-- and it was seen within BRYGGA_UI_SESSION_IDLE_MINUTES.
CREATE TABLE ui_sessions (
    id_hash       bytea PRIMARY KEY CONSTRAINT ui_sessions_id_hash CHECK (length(id_hash) = 32),
    sub           text NOT NULL,
    unit          text,
    token_sealed  bytea NOT NULL,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz
);

-- As every table since 0004: owned by the owner role; the service gets what it does, no more.
-- It creates sessions, marks them seen and ended (no other column changes), and deletes
-- those over for more than a day.
ALTER TABLE ui_sessions OWNER TO brygga_owner;
REVOKE ALL ON ui_sessions FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON ui_sessions TO brygga_app;
GRANT UPDATE (last_seen_at, ended_at) ON ui_sessions TO brygga_app;
