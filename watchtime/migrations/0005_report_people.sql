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
-- Its columns never change once a row is written, so the flusher's updates stay HOT.
CREATE INDEX webinar_user_sessions_viewer ON webinar_user_sessions
    (webinar_id, (watchtime_viewer(user_id, visitor_id, session_id) COLLATE "C"));
