"""Structured logs: one JSON object per line on stdout, in Cloud Logging's format.

Cloud Functions (2nd gen) ships stdout to Cloud Logging, which reads `severity`, `message`,
`httpRequest`, `logging.googleapis.com/trace` and `.../spanId` from each JSON line and keeps
the other fields as `jsonPayload`. This formatter writes that format itself: it is the same
wire format as google-cloud-logging's `StructuredLogHandler`, without that library's
~0.4 s import at every cold start. `LOG_HANDLER=google` switches to the library's handler.

Request context (request id, trace, function, user id) lives in a context variable, so
every line logged while serving a request carries it without being passed around. Only
fields named in `_FIELDS` reach the output: nothing else from a record's `extra` does, so a
password or token can only be logged by adding it here on purpose.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass
class LogContext:
    request_id: str
    function: str
    trace: str | None = None
    span_id: str | None = None
    user_id: str | None = None


log_context: ContextVar[LogContext | None] = ContextVar("log_context", default=None)

_FIELDS = (
    "function",
    "route",
    "method",
    "status",
    "latency_ms",
    "db_queries",
    "db_ms",
    "user_id",
    "error_type",
    "attempt",
)
_SEVERITY = {"WARNING": "WARNING", "CRITICAL": "CRITICAL", "ERROR": "ERROR", "INFO": "INFO"}
# One encoder for every line: `json.dumps` with options builds a new one each call.
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEBUG"),
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "logger": record.name,
        }
        ctx = log_context.get()
        if ctx is not None:
            entry["request_id"] = ctx.request_id
            entry["function"] = ctx.function
            if ctx.user_id:
                entry["user_id"] = ctx.user_id
            if ctx.trace:
                entry["logging.googleapis.com/trace"] = ctx.trace
            if ctx.span_id:
                entry["logging.googleapis.com/spanId"] = ctx.span_id
        for name in _FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        http_request = record.__dict__.get("http_request")
        if http_request is not None:
            entry["httpRequest"] = http_request
        if record.exc_info:
            # Tracebacks stay in the log (never in a response); they hold no request data.
            entry["stack_trace"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


_configured = False


def configure_logging(level: str = "INFO") -> None:
    """Route the root logger to stdout as JSON lines; idempotent."""
    global _configured
    if _configured:
        return
    _configured = True
    handler: logging.Handler
    if os.environ.get("LOG_HANDLER") == "google":
        from google.cloud.logging_v2.handlers import StructuredLogHandler

        handler = StructuredLogHandler(stream=sys.stdout)  # type: ignore[no-untyped-call]
    else:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        # What a record would look up for the formatter, which writes none of it: the
        # thread's, process's and asyncio task's names (~3 us of every line).
        logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
        logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # (3.12; typeshed lags)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # Werkzeug's own access log would duplicate ours in plain text.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
