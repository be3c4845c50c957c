-- R-PG-1: webinar schedules. Times are timestamptz; the content window is
-- [webinar_start_time, COALESCE(webinar_actual_end_time, webinar_scheduled_end_time)).
CREATE TABLE webinars (
    id                          uuid PRIMARY KEY,
    title                       text NOT NULL DEFAULT '',
    webinar_start_time          timestamptz NOT NULL,
    webinar_scheduled_end_time  timestamptz,
    webinar_actual_end_time     timestamptz,
    post_window_minutes         integer NOT NULL DEFAULT 0 CHECK (post_window_minutes >= 0),
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CHECK (webinar_scheduled_end_time IS NULL OR webinar_scheduled_end_time > webinar_start_time),
    CHECK (webinar_actual_end_time IS NULL OR webinar_actual_end_time > webinar_start_time)
);
