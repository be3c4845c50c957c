-- R-PG-2: one row per session, written by the flusher. The row only moves forward:
-- the flusher's upsert replaces it only with a higher version of the same session.
-- No foreign key to webinars: a row whose webinar is missing (say, Postgres restored
-- from an older backup) must not block every later batch of the flusher.
CREATE TABLE webinar_user_sessions (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    webinar_id           uuid NOT NULL,
    user_id              uuid,                       -- NULL for guests
    session_id           text NOT NULL,
    entered_at           timestamptz NOT NULL,
    exited_at            timestamptz,
    duration_seconds     numeric(14, 3)
        GENERATED ALWAYS AS (EXTRACT(EPOCH FROM exited_at - entered_at)) STORED,
    last_heartbeat_at    timestamptz NOT NULL,
    watched_seconds_raw  numeric(14, 3) NOT NULL DEFAULT 0,
    -- The credited visible intervals, [from, to) in ms since the epoch: reports take
    -- their union per person, clipped to the content window as it is at report time.
    watched_intervals    int8multirange NOT NULL DEFAULT '{}',
    closed_reason        text CHECK (closed_reason IN ('exit', 'timeout')),
    is_visible           boolean NOT NULL,
    is_active            boolean NOT NULL,
    ping_count           integer NOT NULL DEFAULT 0,
    user_agent           text,
    referrer             text,
    ip_address           inet,
    agency_id            text,
    client_id            text,
    version              bigint NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webinar_user_sessions_webinar_session UNIQUE (webinar_id, session_id)
) WITH (fillfactor = 80);  -- room for HOT updates: open sessions are rewritten every flush

CREATE INDEX webinar_user_sessions_webinar_user ON webinar_user_sessions (webinar_id, user_id);
CREATE INDEX webinar_user_sessions_webinar_entered ON webinar_user_sessions (webinar_id, entered_at DESC);
CREATE INDEX webinar_user_sessions_user_entered ON webinar_user_sessions (user_id, entered_at DESC);
CREATE INDEX webinar_user_sessions_session ON webinar_user_sessions (session_id);
CREATE INDEX webinar_user_sessions_open ON webinar_user_sessions (webinar_id) WHERE exited_at IS NULL;
CREATE INDEX webinar_user_sessions_report_user
    ON webinar_user_sessions (webinar_id, user_id, exited_at);
CREATE INDEX webinar_user_sessions_report_time
    ON webinar_user_sessions (webinar_id, entered_at, exited_at);
-- Retention deletes by age across webinars.
CREATE INDEX webinar_user_sessions_entered ON webinar_user_sessions (entered_at);

-- Per-minute concurrency, written by the sweeper while a webinar has viewers.
CREATE TABLE webinar_viewer_snapshots (
    webinar_id       uuid NOT NULL,
    bucket_at        timestamptz NOT NULL,
    viewers          integer NOT NULL,
    active_sessions  integer NOT NULL,
    PRIMARY KEY (webinar_id, bucket_at)
);
