"""The request record and the access log line hold names, codes and numbers, never text."""

from __future__ import annotations

import json
import logging

import pytest

from gateway_cli.auditlog.records import FIELDS
from gateway_cli.guards.base import Finding
from gateway_cli.keys.principal import Principal
from gateway_cli.observe import access_log
from gateway_cli.observe.log_format import JsonFormatter
from gateway_cli.observe.record import model_label, record_data
from gateway_cli.policy.decide import Acted, Decision
from gateway_cli.request.trace import FindingCount, Trace, Verdict

KNOWN = {"gpt-4o", "claude"}
GITHUB = "ghp_" + "Zq8mR2vX7kLp4Nw9Ty3Hb6Jc1Fd5Gs0Ae2Ui"
AWS = "AKIAZ7Q3K2LMNPXR4T6V"


def _trace(**changes: object) -> Trace:
    trace = Trace("ab" * 12, "POST", "/v1/chat/completions", "127.0.0.1")
    trace.principal = Principal(id="c1", name="alice", kind="client", team="red")
    trace.op = "chat"
    trace.model = "gpt-4o"
    trace.status = 200
    for name, value in changes.items():
        setattr(trace, name, value)
    return trace


@pytest.mark.parametrize("name", ["gpt-4o", "claude-sonnet-4-5-20250929",
                                  "meta-llama/Llama-3.1-70B-Instruct",
                                  "ft:gpt-4o-mini-2024-07-18:my-org:custom:9abc123"])
def test_model_names_are_kept(name: str) -> None:
    assert model_label(name, set()) == name


@pytest.mark.parametrize("name", [GITHUB, AWS, "sk-proj-" + "Ab1Xy9" * 10, "hello world",
                                  "x" * 200, "a\nb", "", "ünïcode"])
def test_anything_else_is_recorded_by_hash(name: str) -> None:
    label = model_label(name, set())
    assert label is not None and label.startswith("unknown:") and len(label) == 24
    assert name not in label or name == ""
    assert model_label(name, {name}) == name  # a configured model is always shown


def test_record_has_every_field_and_is_json() -> None:
    trace = _trace(deployment="openai/gpt-4o", provider="openai", input_tokens=10,
                   output_tokens=5, cached_tokens=0, cost=0.000123456789, stream="complete",
                   policy=Verdict("redact", "redact", "secrets.github_token"), mode="enforce")
    trace.attempt("openai/gpt-4o", "timeout")
    trace.attempt("openai/gpt-4o", "ok")
    trace.findings.append(FindingCount("secrets", "github_token", "user", "redact", 2))
    trace.first_byte = trace.started + 0.01
    trace.ended = trace.started + 0.02
    data = record_data(trace, KNOWN)
    # The MCP fields are only in mcp.call records (see test_mcp_record_fields).
    assert set(data) == set(FIELDS) - {"dropped", "arguments_sha256", "result_bytes"}
    assert data["attempts"] == 2
    assert data["failover"] == ["openai/gpt-4o:timeout", "openai/gpt-4o:ok"]
    assert data["findings"] == [{"guard": "secrets", "kind": "github_token", "slot": "user",
                                 "action": "redact", "count": 2}]
    assert data["cost"] == 0.00012346
    assert data["ttfb_ms"] == 10.0 and data["latency_ms"] == 20.0
    assert data["principal"] == "alice" and data["team"] == "red"
    json.dumps(data, allow_nan=False)


def test_a_secret_in_the_model_field_never_reaches_record_or_log(
        caplog: pytest.LogCaptureFixture) -> None:
    trace = _trace(model=GITHUB, status=404, error="model_not_found")
    trace.ended = trace.started
    data = json.dumps(record_data(trace, KNOWN))
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        access_log.emit(trace, KNOWN)
    line = caplog.records[0]
    assert GITHUB not in data and GITHUB not in line.getMessage()
    assert GITHUB not in JsonFormatter().format(line)
    assert "unknown:" in line.getMessage()


def test_answer_verdict_counts_findings_by_guard_kind_and_action() -> None:
    trace = _trace()
    found = [Finding("secrets", "aws_access_key", 0, 20, 0.9, "AKIA…"),
             Finding("secrets", "aws_access_key", 30, 50, 0.9, "AKIA…"),
             Finding("pii", "email", 0, 5, 0.8, "a…")]
    trace.answer_verdict(Decision("block", "allow", "secrets.aws_access_key", acted=(
        Acted(found[0], "block"), Acted(found[1], "block"), Acted(found[2], "mask"))))
    assert trace.output == Verdict("block", "allow", "secrets.aws_access_key")
    assert sorted((f.guard, f.kind, f.slot, f.action, f.count) for f in trace.findings) == [
        ("pii", "email", "answer", "mask", 1),
        ("secrets", "aws_access_key", "answer", "block", 2)]


def test_access_line_text_and_json() -> None:
    trace = _trace(deployment="openai/gpt-4o", error=None, stream="policy")
    trace.ended = trace.started + 0.0123
    fields = access_log.fields(trace, KNOWN)
    line = access_log.text_line(fields)
    assert line == ('127.0.0.1 "POST /v1/chat/completions" 200 model=gpt-4o '
                    'deployment=openai/gpt-4o key=alice stream=policy 12.3ms id=' + "ab" * 12)
    record = logging.LogRecord("gateway.access", logging.INFO, __file__, 1, "%s", (line,),
                               None)
    record.fields = fields
    parsed = json.loads(JsonFormatter().format(record))
    assert parsed["status"] == 200 and parsed["model"] == "gpt-4o"
    assert parsed["principal"] == "alice" and parsed["request_id"] == "ab" * 12
    assert parsed["level"] == "info" and parsed["time"].endswith("Z")


def test_a_scoped_token_caller_is_named_by_kind_name_and_jti() -> None:
    token = Principal(id="tok:0123456789abcdef01234567", name="ci-agent", kind="token",
                      models=("gpt-4o",), scopes=("mcp:fs:read_*",))
    trace = _trace(principal=token)
    fields = access_log.fields(trace, KNOWN)
    assert fields["token_id"] == "0123456789abcdef01234567"
    assert " key=ci-agent token=0123456789abcdef01234567 " in access_log.text_line(fields)
    data = record_data(trace, KNOWN)
    assert (data["principal_kind"], data["principal_id"], data["principal"]) == (
        "token", "tok:0123456789abcdef01234567", "ci-agent")
    assert "token_id" not in access_log.fields(_trace(), KNOWN)  # client keys: unchanged


@pytest.mark.parametrize("worker", [None, 2])
@pytest.mark.parametrize("kind", ["text", "json"])
def test_the_direct_access_line_is_the_formatters_line(kind: str, worker: int | None) -> None:
    """`gateway serve` writes access lines to its handler's stream directly; they must read
    exactly as the logging formatter would write them (the time aside), and name the
    worker process alike with --workers N."""
    import io
    import re

    from gateway_cli.observe.log_format import formatter

    trace = _trace(deployment="openai/gpt-4o")
    trace.ended = trace.started + 0.005
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(kind, worker))  # type: ignore[arg-type]
    access_log.log.setLevel(logging.INFO)
    try:
        access_log.write_to(None)
        access_log.log.addHandler(handler)
        access_log.emit(trace, KNOWN)
        access_log.log.removeHandler(handler)
        access_log.write_to(handler, kind, worker)  # type: ignore[arg-type]
        access_log.emit(trace, KNOWN)
    finally:
        access_log.write_to(None)
        access_log.log.removeHandler(handler)
        access_log.log.setLevel(logging.NOTSET)
    by_logging, direct = stream.getvalue().splitlines()
    if kind == "json":
        a, b = json.loads(by_logging), json.loads(direct)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", b["time"])
        assert {**a, "time": ""} == {**b, "time": ""}
        assert a.get("worker") == worker and list(a)[:4] == list(b)[:4]
    else:
        stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "
        assert re.match(stamp, direct) and re.match(stamp, by_logging)
        assert direct[24:] == by_logging[24:]
        name = "gateway.access[worker 2]: " if worker else "gateway.access: "
        assert direct[24:].startswith("INFO " + name)


@pytest.mark.parametrize("kind", ["text", "json"])
def test_log_lines_name_the_worker(kind: str) -> None:
    import io

    from gateway_cli.observe.log_format import formatter

    lines = []
    for worker in (None, 3):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter(kind, worker))  # type: ignore[arg-type]
        record = logging.LogRecord("gateway", logging.WARNING, __file__, 1,
                                   "worker %d (pid %d) ended 100%%", (2, 7), None)
        handler.emit(record)
        lines.append(stream.getvalue().rstrip("\n"))
    plain, marked = lines
    if kind == "json":
        assert "worker" not in json.loads(plain)
        assert json.loads(marked)["worker"] == 3
        assert json.loads(marked)["message"] == "worker 2 (pid 7) ended 100%"
    else:
        assert plain.endswith(" WARNING gateway: worker 2 (pid 7) ended 100%")
        assert marked.endswith(" WARNING gateway[worker 3]: worker 2 (pid 7) ended 100%")


def test_mcp_record_fields() -> None:
    trace = _trace(path="/mcp/fs", op="tools/call", model="read_file", deployment="fs")
    trace.arguments_sha256, trace.result_bytes = "a" * 64, 120
    data = record_data(trace, KNOWN)
    assert set(data) == set(FIELDS) - {"dropped"}
    assert (data["op"], data["model"], data["deployment"]) == ("tools/call", "read_file", "fs")
    assert (data["arguments_sha256"], data["result_bytes"]) == ("a" * 64, 120)
