-- A succession moves the SIP plans the unit takes part in (service/store/units.py succeed): the plan's holding
-- unit, its participants and its overall responsibility name the successor from then on, so the successor reads and
-- saves the plans its predecessor held (a plan's holding unit stays a participant: a succeeded one would have made
-- the plan unsavable). The versions keep the units as they were saved. Counted like the rest of what moved.
ALTER TABLE unit_successions ADD COLUMN sip_plans integer NOT NULL DEFAULT 0;
