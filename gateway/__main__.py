"""``watchtime-gateway`` / ``python -m gateway``: serve the API with uvicorn."""

from __future__ import annotations

import uvicorn

from watchtime.settings import load_or_exit


def main() -> None:
    settings = load_or_exit("watchtime-gateway")  # fail with one line before uvicorn starts
    uvicorn.run(
        "gateway.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.gateway_workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
        access_log=False,  # one line per ping would cost more than the ping
    )


if __name__ == "__main__":
    main()
