-- callmesh schema (DESIGN §5). api-gateway is the only writer.

CREATE TABLE assistants (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    prompt              text NOT NULL DEFAULT '',
    mode                text NOT NULL DEFAULT 'pipeline' CHECK (mode IN ('pipeline', 'realtime')),
    start_instruction   text NOT NULL DEFAULT '',
    interaction_config  jsonb NOT NULL DEFAULT '{}'::jsonb,
    stt_config          jsonb NOT NULL DEFAULT '{}'::jsonb,
    llm_config          jsonb NOT NULL DEFAULT '{}'::jsonb,
    tts_config          jsonb NOT NULL DEFAULT '{}'::jsonb,
    end_call_url        text,
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE trunks (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    provider    text NOT NULL CHECK (provider IN ('twilio', 'exotel')),
    config      jsonb NOT NULL DEFAULT '{}'::jsonb,   -- non-secret SIP settings
    secrets     jsonb NOT NULL DEFAULT '{}'::jsonb,   -- write-only: never returned by the API
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE phone_numbers (
    number      text PRIMARY KEY CHECK (number ~ '^\+[1-9][0-9]{6,14}$'),
    trunk_id    uuid NOT NULL REFERENCES trunks (id) ON DELETE CASCADE,
    position    int NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX phone_numbers_trunk ON phone_numbers (trunk_id, position);

CREATE TABLE calls (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('web', 'outbound')),
    provider        text CHECK (provider IN ('twilio', 'exotel')),
    assistant_id    uuid NOT NULL REFERENCES assistants (id),
    trunk_id        uuid REFERENCES trunks (id),
    from_number     text,
    to_number       text,
    room            text NOT NULL,
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN
                    ('queued', 'dialing', 'ringing', 'in_progress', 'on_hold', 'completed', 'busy',
                     'no_answer', 'rejected', 'cancelled', 'unreachable', 'timeout', 'failed')),
    sip_code        int,
    sip_reason      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    answered_at     timestamptz,
    agent_ready_at  timestamptz,
    ended_at        timestamptz,
    end_reason      text,
    hold_count      int NOT NULL DEFAULT 0,
    hold_ms         bigint NOT NULL DEFAULT 0,
    hold_started_at timestamptz,
    recording_path  text,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_created ON calls (created_at DESC, id DESC);
CREATE INDEX calls_status ON calls (status, created_at DESC);
CREATE INDEX calls_assistant ON calls (assistant_id, created_at DESC);

CREATE TABLE call_events (
    id          uuid PRIMARY KEY,              -- the event id: persisting is idempotent
    call_id     uuid NOT NULL,
    type        text NOT NULL,
    ts          timestamptz NOT NULL,
    source      text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}'::jsonb,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX call_events_call ON call_events (call_id, ts);

CREATE TABLE transcript_segments (
    call_id     uuid NOT NULL,
    seq         int NOT NULL,
    speaker     text NOT NULL CHECK (speaker IN ('agent', 'user')),
    text        text NOT NULL,
    started_at  timestamptz NOT NULL,
    event_id    uuid UNIQUE,
    PRIMARY KEY (call_id, seq)
);

