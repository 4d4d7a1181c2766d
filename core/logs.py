"""Logging: ``configure_logging`` sets up structlog once at the entry point (JSON lines by default,
with the request/session/correlation ids bound through contextvars); ``get_logger`` names a logger.
Message text is never logged at info level.
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import FilteringBoundLogger, Processor


def configure_logging(level: str = "info", fmt: str = "json", extra_processors: list[Processor] | None = None) -> None:
    """Configure structlog and the stdlib root logger (uvicorn, asyncpg) to emit one format."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *(extra_processors or []),
    ]
    renderer: Processor = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processor=renderer, foreign_pre_chain=shared,
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn.access",):
        logging.getLogger(name).setLevel(logging.WARNING)  # the app logs requests itself, with ids
    # uvicorn's own WebSocket lines carry the raw path with its query string (tokens); the app's
    # access log (ws.access) says the same without it
    handler.addFilter(_drop_uvicorn_websocket_lines)


def _drop_uvicorn_websocket_lines(record: logging.LogRecord) -> bool:
    if record.name != "uvicorn.error":
        return True
    return not str(record.msg).startswith('%s - "WebSocket ')


def get_logger(name: str) -> FilteringBoundLogger:
    """The logger for events of one module; ``name`` is the module's dotted name."""
    logger: FilteringBoundLogger = structlog.get_logger(name)
    return logger
