"""The flusher: batches dirty session state from Redis into Postgres."""
