-- An emergency grant names the domain whose records it opens (issue 11, item 4).
--
-- Grants opened before this migration are given 'health': that is the domain every one
-- of them was asked for unless the caller named another (the API's default), the only
-- domain emergency access could open by default, and the domain the emergency rule of
-- coherent records (Lag (2022:913); PDL) belongs to. The opener unit's domain would be
-- the wrong value: it says where the opener works, not whose records were opened (a
-- social worker's grant was a grant to health records). A grant lasts at most
-- BRYGGA_EMERGENCY_HOURS, and one held by a unit of a domain not permitted now opens
-- nothing (policies/decide.py), so no old grant opens more than it did.
ALTER TABLE emergency_grants ADD COLUMN domain text NOT NULL DEFAULT 'health';
ALTER TABLE emergency_grants ALTER COLUMN domain DROP DEFAULT;
