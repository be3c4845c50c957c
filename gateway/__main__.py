"""``watchtime-gateway`` / ``python -m gateway``: serve the API with uvicorn."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import uvicorn

from watchtime import cli, logs
from watchtime.settings import Settings, load_or_exit

# A stopping gateway worker finishes what it has begun, but a client that never sends
# the rest of its body does not keep it from stopping.
GRACEFUL_SHUTDOWN_SECONDS = 10


def main() -> None:
    cli.parse("watchtime-gateway", __doc__)
    settings = load_or_exit("watchtime-gateway")  # fail with one line before uvicorn starts
    if settings.gateway_workers > 1:
        _multiprocess_metrics(settings)
    uvicorn.run(
        "gateway.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.gateway_workers,
        loop="gateway.listener:Loop",
        http="gateway.protocol:Protocol",  # httptools, refusing past the admission bound
        log_config=logs.config(settings),
        log_level=settings.log_level.lower(),
        access_log=False,  # ACCESS_LOG is the app's own (gateway/access.py): it has durations
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def _multiprocess_metrics(settings: Settings) -> None:
    """Each worker writes its metrics to files that ``/metrics`` adds up. The folder is
    emptied at every start so no earlier run's counters come back; the workers inherit
    its name through the environment, before they import prometheus_client."""
    folder = settings.metrics_dir or Path(tempfile.mkdtemp(prefix="watchtime-metrics-"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


if __name__ == "__main__":
    main()
