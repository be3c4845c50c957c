-- Total length of a set of [from, to) ms intervals: the watched time of a union.
CREATE FUNCTION watchtime_length_ms(intervals int8multirange) RETURNS int8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (SELECT COALESCE(sum(upper(r) - lower(r)), 0)::int8 FROM unnest(intervals) AS r);
