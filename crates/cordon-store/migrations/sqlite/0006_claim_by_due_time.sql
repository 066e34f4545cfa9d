-- A claimed notification's next attempt is now the end of its lease, so that one index finds
-- every due row. Rows claimed before this change keep their lease.
UPDATE notifications SET next_attempt_at = lease_until WHERE status = 'sending' AND lease_until IS NOT NULL;
