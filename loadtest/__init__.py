"""Locust scenarios and the watch-time verifier."""
