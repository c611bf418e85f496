"""The services' log lines: one JSON object each, with the trace they were logged in."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from baro_chassis.logs import JsonFormatter, configure_logging, make_handler


def logged(formatter: logging.Formatter, emit: object) -> dict[str, object]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger = logging.getLogger("baro_test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        assert callable(emit)
        emit(logger)
    finally:
        logger.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    line: dict[str, object] = json.loads(lines[0])
    return line


def test_a_line_inside_a_span_carries_its_trace_and_span_ids() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("register") as span:
        line = logged(JsonFormatter("registration"), lambda log: log.warning("ran %s", "x"))
        context = span.get_span_context()
    assert line["message"] == "ran x"
    assert line["level"] == "WARNING"
    assert line["logger"] == "baro_test.logs"
    assert line["service"] == "registration"
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    assert str(line["timestamp"]).endswith("+00:00")


def test_a_line_outside_any_span_has_no_trace_and_keeps_the_exception() -> None:
    def fail(log: logging.Logger) -> None:
        try:
            raise ValueError("broken relay")
        except ValueError:
            log.exception("relay failed")

    line = logged(JsonFormatter("billing"), fail)
    assert "trace_id" not in line
    assert "ValueError: broken relay" in str(line["exception"])


def test_text_format_for_local_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BARO_LOG_FORMAT", "text")
    assert not isinstance(make_handler("scoring").formatter, JsonFormatter)
    monkeypatch.delenv("BARO_LOG_FORMAT")
    assert isinstance(make_handler("scoring").formatter, JsonFormatter)


def test_configuring_again_replaces_the_handler_and_leaves_others() -> None:
    root = logging.getLogger()
    other = logging.NullHandler()
    root.addHandler(other)
    try:
        configure_logging("billing")
        configure_logging("billing")
        own = [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]
        assert len(own) == 1
        assert other in root.handlers
    finally:
        root.removeHandler(other)
