-- The group an event belongs to, set by the application, so that the store finds a group's
-- incident without reading the event's JSON.
ALTER TABLE intake_events ADD COLUMN group_key TEXT;
