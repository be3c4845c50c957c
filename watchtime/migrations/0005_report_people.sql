-- R-EXT-4, R-EXT-5: who a session's person is, in one place, and an index in that order
-- so that the report pages through people by a keyset without aggregating everybody.

-- An opaque id a guest's browser keeps across page loads (at most 64 of [A-Za-z0-9_-],
-- checked by the gateway); a verified user's sessions store it but are grouped by user.
ALTER TABLE webinar_user_sessions ADD COLUMN visitor_id text;
-- The credited intervals during which the client also reported itself active, [from, to)
-- in ms since the epoch: a subset of watched_intervals.
ALTER TABLE webinar_user_sessions ADD COLUMN active_intervals int8multirange NOT NULL DEFAULT '{}';

-- The report's person of a session: the token's user, else the guest's visitor id, else
-- the guest session itself.
CREATE FUNCTION watchtime_viewer(user_id uuid, visitor_id text, session_id text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN user_id IS NOT NULL THEN 'user:' || user_id::text
    WHEN visitor_id IS NOT NULL THEN 'visitor:' || visitor_id
    ELSE 'guest:' || session_id
END;

-- Byte order ("C"): the same in every locale, and the report's cursor compares in it.
CREATE INDEX webinar_user_sessions_viewer ON webinar_user_sessions
    (webinar_id, (watchtime_viewer(user_id, visitor_id, session_id) COLLATE "C"));

-- The monthly partitions' mover, with the two new columns.
CREATE OR REPLACE FUNCTION watchtime_ensure_month(month_start timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lower_bound timestamptz := date_trunc('month', month_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    upper_bound timestamptz := lower_bound + interval '1 month';
    name text := 'webinar_user_sessions_y' || to_char(lower_bound AT TIME ZONE 'UTC', 'YYYY"m"MM');
    columns text := 'id, webinar_id, user_id, session_id, entered_at, exited_at, last_heartbeat_at, '
        'watched_seconds_raw, watched_intervals, closed_reason, is_visible, is_active, ping_count, '
        'user_agent, referrer, ip_address, agency_id, client_id, version, created_at, updated_at, '
        'visitor_id, active_intervals';
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
