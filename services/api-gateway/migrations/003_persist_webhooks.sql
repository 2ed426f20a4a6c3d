-- Persister and end-of-call webhooks (issue #3).

-- Which event ended the call: a call_ended that overtook a late call_answered
-- is turned into "completed" when the answer arrives; a call_failed is final.
ALTER TABLE calls ADD COLUMN end_event text CHECK (end_event IN ('call_ended', 'call_failed'));

-- End-of-call webhook, delivered at most once per call: a worker claims the
-- call (webhook_claimed_at) in its own transaction before the first attempt,
-- so neither a second instance nor a restart ever sends it again.
ALTER TABLE calls ADD COLUMN webhook_claimed_at timestamptz;
ALTER TABLE calls ADD COLUMN webhook_status text
    CHECK (webhook_status IN ('delivered', 'failed', 'skipped'));
ALTER TABLE calls ADD COLUMN webhook_attempts int NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN webhook_done_at timestamptz;

CREATE INDEX calls_webhook_pending ON calls (ended_at)
    WHERE webhook_claimed_at IS NULL
      AND status NOT IN ('queued', 'dialing', 'ringing', 'in_progress', 'on_hold');

-- Owner liveness scans the calls a worker holds.
CREATE INDEX calls_live ON calls (status)
    WHERE status IN ('dialing', 'ringing', 'in_progress', 'on_hold');

CREATE INDEX call_events_call_type ON call_events (call_id, type, ts);

-- Calls that ended before this migration never get a webhook.
UPDATE calls SET webhook_claimed_at = now(), webhook_status = 'skipped'
 WHERE status NOT IN ('queued', 'dialing', 'ringing', 'in_progress', 'on_hold');
