-- Successions form chains with one heir per unit and no cycle, and a succeeded unit stays inactive (insider attack 9,
-- finding 1): the last line behind policies.units decide_succession and decide_activation, for two requests that
-- raced past the application's checks. With a unit succeeded at most once (the primary key) and a successor that
-- was never succeeded itself, no cycle can form: the successor has no successor, so no chain leads from it back.
CREATE FUNCTION unit_successions_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM unit_successions WHERE predecessor = NEW.successor) THEN
        RAISE EXCEPTION 'the successor % was succeeded itself', NEW.successor USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF unit_heir(NEW.successor) = NEW.predecessor THEN  -- a cycle (kept as its own check, should the rule change)
        RAISE EXCEPTION 'a succession of % into % would form a cycle', NEW.predecessor, NEW.successor
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER unit_successions_chain BEFORE INSERT ON unit_successions
    FOR EACH ROW EXECUTE FUNCTION unit_successions_chain();

CREATE FUNCTION units_succeeded_stay_inactive() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM unit_successions WHERE predecessor = NEW.id) THEN
        RAISE EXCEPTION 'unit % was succeeded: it is not activated again', NEW.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER units_succeeded_stay_inactive BEFORE UPDATE OF active ON units
    FOR EACH ROW WHEN (NEW.active AND NOT OLD.active) EXECUTE FUNCTION units_succeeded_stay_inactive();

ALTER FUNCTION unit_successions_chain() OWNER TO brygga_owner;
ALTER FUNCTION units_succeeded_stay_inactive() OWNER TO brygga_owner;
