"""The flusher: batches changed session state from Redis into Postgres."""
