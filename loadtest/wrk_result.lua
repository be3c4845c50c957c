-- The RESULT line every wrk script of loadtest/ prints when done, as loadtest.audience
-- reads it: requests, seconds, latency percentiles (µs) and errors (socket, then non-2xx).
return function(summary, latency)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f p50_us=%d p90_us=%d p99_us=%d errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
