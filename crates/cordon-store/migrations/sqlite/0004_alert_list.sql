-- Alert lists are read newest first.
CREATE INDEX alerts_created ON alerts (created_at);
