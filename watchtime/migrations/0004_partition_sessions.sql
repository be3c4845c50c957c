-- R-SCALE: webinar_user_sessions range-partitioned by month of entered_at, so that
-- retention drops whole months instead of deleting row by row, and each month's
-- indexes stay the size of one month. entered_at never changes for a session, so the
-- flusher's upsert key (webinar_id, session_id, entered_at) names one row for good.
-- A DEFAULT partition takes rows of months not created yet: an insert never fails.

CREATE TABLE webinar_user_sessions_by_month (
    id                   uuid NOT NULL DEFAULT gen_random_uuid(),
    webinar_id           uuid NOT NULL,
    user_id              uuid,
    session_id           text NOT NULL,
    entered_at           timestamptz NOT NULL,
    exited_at            timestamptz,
    duration_seconds     numeric(14, 3)
        GENERATED ALWAYS AS (EXTRACT(EPOCH FROM exited_at - entered_at)) STORED,
    last_heartbeat_at    timestamptz NOT NULL,
    watched_seconds_raw  numeric(14, 3) NOT NULL DEFAULT 0,
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
    CONSTRAINT webinar_user_sessions_by_month_pkey PRIMARY KEY (id, entered_at)
) PARTITION BY RANGE (entered_at);

CREATE TABLE webinar_user_sessions_default PARTITION OF webinar_user_sessions_by_month DEFAULT
    WITH (fillfactor = 80);

-- One month's partition; rows of that month already in the default partition move in.
-- Safe to call from several sweepers at once and again and again.
CREATE FUNCTION watchtime_ensure_month(month_start timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lower_bound timestamptz := date_trunc('month', month_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    upper_bound timestamptz := lower_bound + interval '1 month';
    name text := 'webinar_user_sessions_y' || to_char(lower_bound AT TIME ZONE 'UTC', 'YYYY"m"MM');
    columns text := 'id, webinar_id, user_id, session_id, entered_at, exited_at, last_heartbeat_at, '
        'watched_seconds_raw, watched_intervals, closed_reason, is_visible, is_active, ping_count, '
        'user_agent, referrer, ip_address, agency_id, client_id, version, created_at, updated_at';
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('watchtime_ensure_month'));
    IF to_regclass(name) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE webinar_user_sessions INCLUDING DEFAULTS '
                   'INCLUDING GENERATED INCLUDING CONSTRAINTS) WITH (fillfactor = 80)', name);
    EXECUTE format('WITH moved AS (DELETE FROM webinar_user_sessions_default '
                   'WHERE entered_at >= %L AND entered_at < %L RETURNING %s) '
                   'INSERT INTO %I (%s) SELECT %s FROM moved',
                   lower_bound, upper_bound, columns, name, columns, columns);
    EXECUTE format('ALTER TABLE webinar_user_sessions ATTACH PARTITION %I '
                   'FOR VALUES FROM (%L) TO (%L)', name, lower_bound, upper_bound);
END $$;

-- Drops the months that ended more than retention_days ago; returns how many.
CREATE FUNCTION watchtime_drop_months(retention_days integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    partition record;
    dropped integer := 0;
BEGIN
    FOR partition IN
        SELECT c.relname,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
                   AS upper_bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'webinar_user_sessions'::regclass
    LOOP
        IF partition.upper_bound IS NOT NULL
           AND partition.upper_bound <= now() - make_interval(days => retention_days) THEN
            EXECUTE format('DROP TABLE %I', partition.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END $$;

INSERT INTO webinar_user_sessions_by_month (id, webinar_id, user_id, session_id, entered_at,
    exited_at, last_heartbeat_at, watched_seconds_raw, watched_intervals, closed_reason,
    is_visible, is_active, ping_count, user_agent, referrer, ip_address, agency_id, client_id,
    version, created_at, updated_at)
SELECT id, webinar_id, user_id, session_id, entered_at, exited_at, last_heartbeat_at,
    watched_seconds_raw, watched_intervals, closed_reason, is_visible, is_active, ping_count,
    user_agent, referrer, ip_address, agency_id, client_id, version, created_at, updated_at
FROM webinar_user_sessions;

DROP TABLE webinar_user_sessions;
ALTER TABLE webinar_user_sessions_by_month RENAME TO webinar_user_sessions;
ALTER TABLE webinar_user_sessions
    RENAME CONSTRAINT webinar_user_sessions_by_month_pkey TO webinar_user_sessions_pkey;
ALTER TABLE webinar_user_sessions ADD CONSTRAINT webinar_user_sessions_webinar_session
    UNIQUE (webinar_id, session_id, entered_at);

-- The indexes of R-PG-2, now one per partition.
CREATE INDEX webinar_user_sessions_webinar_user ON webinar_user_sessions (webinar_id, user_id);
CREATE INDEX webinar_user_sessions_webinar_entered ON webinar_user_sessions (webinar_id, entered_at DESC);
CREATE INDEX webinar_user_sessions_user_entered ON webinar_user_sessions (user_id, entered_at DESC);
CREATE INDEX webinar_user_sessions_session ON webinar_user_sessions (session_id);
CREATE INDEX webinar_user_sessions_open ON webinar_user_sessions (webinar_id) WHERE exited_at IS NULL;
CREATE INDEX webinar_user_sessions_report_user
    ON webinar_user_sessions (webinar_id, user_id, exited_at);
CREATE INDEX webinar_user_sessions_report_time
    ON webinar_user_sessions (webinar_id, entered_at, exited_at);

-- Months with rows, and the next three.
SELECT watchtime_ensure_month(month)
FROM (SELECT DISTINCT date_trunc('month', entered_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month
      FROM webinar_user_sessions
      UNION
      SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + n * interval '1 month'
      FROM generate_series(0, 3) AS n) AS months;
