"""The gateway: viewers' track/ping/exit, organisers' admin API, ops endpoints."""
