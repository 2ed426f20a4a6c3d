-- Events for calls that have no row (issue 13): kept apart from call_events,
-- so that an event nobody placed a call for never joins a call's record and
-- a call created later cannot inherit it. Same columns, for inspection.
CREATE TABLE stray_events (
    id          uuid PRIMARY KEY,              -- the event id: idempotent
    call_id     uuid NOT NULL,
    type        text NOT NULL,
    ts          timestamptz NOT NULL,
    source      text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}'::jsonb,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stray_events_received ON stray_events (received_at);
