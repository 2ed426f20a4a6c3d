-- Until when an outbound call waits for a dialer with a free line: the dial
-- job's dial_by (DIAL_QUEUE_TIMEOUT_S after the call was queued). Dialers
-- drop a job taken later; a call still queued OWNER_TIMEOUT_S after it ends
-- failed, not_dialed (owners.c). NULL for web calls and older rows.
ALTER TABLE calls ADD COLUMN dial_by timestamptz;
