"""Logs: one JSON object per line on stderr, for every process of every service (API,
uvicorn's own logs, relays, consumers, audit-ingest's probe writer).

Each line holds `timestamp` (ISO-8601, UTC), `level`, `logger`, `message`, `service`, the
`trace_id` and `span_id` of the OpenTelemetry span current when it was logged (if any) and
`exception` (its traceback, if any). BARO_LOG_FORMAT=text gives one human line instead
(local development); BARO_LOG_LEVEL sets the level (default WARNING).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
_OWN_HANDLER = "baro_service_handler"


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            line["trace_id"] = format(context.trace_id, "032x")
            line["span_id"] = format(context.span_id, "016x")
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def make_handler(service: str) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("BARO_LOG_FORMAT", "json").strip().lower() == "text":
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    else:
        handler.setFormatter(JsonFormatter(service))
    return handler


def configure_logging(service: str) -> None:
    """The root logger writes through the service's handler, replacing the one an earlier
    call installed (and leaving others, such as pytest's, in place)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _OWN_HANDLER, False)]:
        root.removeHandler(handler)
    handler = make_handler(service)
    setattr(handler, _OWN_HANDLER, True)
    root.addHandler(handler)
    root.setLevel(os.environ.get("BARO_LOG_LEVEL", "WARNING").strip().upper())


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's `log_config`: its loggers (errors, and access lines when enabled) write
    through the root's handler that `configure_logging` installs, so in the same format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {name: {"handlers": [], "propagate": True} for name in UVICORN_LOGGERS},
    }
