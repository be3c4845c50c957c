"""Logging of every command: ``LOG_LEVEL``, and ``LOG_FORMAT`` text or JSON lines on stderr.

One ``logging.config`` dictionary serves both the plain commands and uvicorn (its
``log_config``), so the gateway's server messages come out in the same format as ours.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import msgspec

from watchtime.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Attributes a record may carry (``extra=``) that a JSON line keeps as fields of its own.
REQUEST_FIELDS = ("method", "path", "status", "duration_ms", "client")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")

_encoder = msgspec.json.Encoder()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, the
    request fields the record carries, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in REQUEST_FIELDS:
            if field in record.__dict__:
                line[field] = record.__dict__[field]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(line).decode()


def config(settings: Settings) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of every process, uvicorn's loggers included:
    they keep no handler of their own and reach the root's."""
    json_lines = settings.log_format == "json"
    formatter = {"()": f"{__name__}.JsonFormatter"} if json_lines else {"format": TEXT_FORMAT}
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": settings.log_level},
        "loggers": {name: {"handlers": [], "propagate": True} for name in UVICORN_LOGGERS},
    }


def configure(settings: Settings) -> None:
    """Logging as ``config`` says; warnings and a crash's traceback go through it too, so
    under LOG_FORMAT=json nothing on stderr is left out of the JSON lines."""
    logging.config.dictConfig(config(settings))
    logging.captureWarnings(True)
    sys.excepthook = _log_crash


def _log_crash(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    logging.getLogger("watchtime").critical(
        "stopped by %s: %s", kind.__name__, error, exc_info=(kind, error, trace)
    )
