"""The metrics' pure parts (egress_metrics.py) by tables: every label bounded, the listener's
address and paths, and what one request adds to which metric."""

import ast
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from conftest import ADDON_DIR
from egress_metrics import (
    NO_ROUTE,
    OTHER,
    EgressMetrics,
    FlowMeter,
    MetricsListenError,
    gate_label,
    host_label,
    method_label,
    only_metrics,
    parse_listen,
    reason_label,
    token_label,
)
from egress_routes import AUDITABLE_REASONS, Auth, Decision, Route, RouteTable, deny


def route(index: int, host: str, auth: Auth | None = None) -> Route:
    return Route(index, host, frozenset({443}), frozenset({"GET"}), None, auth)


TABLE = RouteTable([route(0, "api.example.com"), route(1, "*.example.org"), route(2, "api.example.com")])


@pytest.mark.parametrize(
    "reason,label",
    [
        ("allowed", "allowed"),
        ("host not in allowlist", "host not in allowlist"),
        ("audit: path not allowed", "audit: path not allowed"),
        ("credentials only over TLS", "credentials only over TLS"),
        ("TLS SNI does not match the target", "TLS SNI does not match the target"),
        ("path rejected (dot segment)", "path rejected"),
        ("headers rejected (CR, LF or NUL in a header)", "headers rejected"),
        ("answer scan: prompt injection found", "answer scan"),
        ("answer not scanned: invalid gzip", "answer not scanned"),
        ("dlp", "dlp"),
        ("tunnel dial failed", "tunnel dial failed"),
        # Free text, and what only looks like a known reason.
        ("blocked: request body contains secret: AWS Access ID", OTHER),
        ("path rejected", OTHER),
        ("Allowed", OTHER),
        ("audit: rate limited", OTHER),
        ("", OTHER),
    ],
)
def test_reason_label(reason: str, label: str) -> None:
    assert reason_label(reason) == label


def _reasons_written_in_the_addon() -> list[ast.expr]:
    """The reason argument of every deny(...) and Decision(...) in the addon's modules."""
    found = []
    for path in sorted(ADDON_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("deny", "Decision"):
                found.append(node.args[0 if node.func.id == "deny" else 1])
    return found


def test_every_reason_the_addon_writes_has_its_own_label() -> None:
    literals = [a.value for a in _reasons_written_in_the_addon() if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    assert len(literals) > 10
    assert [r for r in literals if reason_label(r) != r] == []
    # A reason with a detail is counted under its stable beginning.
    formatted = [a for a in _reasons_written_in_the_addon() if isinstance(a, ast.JoinedStr) and isinstance(a.values[0], ast.Constant)]
    beginnings = [str(a.values[0].value) for a in formatted if isinstance(a.values[0], ast.Constant)]
    assert "path rejected (" in beginnings
    # ("audit: " comes before the reasons audit mode lets through, each listed whole.)
    assert [b for b in beginnings if b != "audit: " and reason_label(f"{b}x)") == OTHER] == []
    assert [r for r in AUDITABLE_REASONS if reason_label(f"audit: {r}") != f"audit: {r}"] == []


@pytest.mark.parametrize(
    "method,label",
    [("GET", "GET"), ("OPTIONS", "OPTIONS"), ("CONNECT", "CONNECT"), ("TRACE", OTHER), ("get", OTHER), ("G\\x00T", OTHER)],
)
def test_method_label(method: str, label: str) -> None:
    assert method_label(method) == label


@pytest.mark.parametrize(
    "by,label", [("egress-proxy", "egress-proxy"), ("pipelock", "pipelock"), ("pipelock-bulk", "pipelock-bulk"), ("x", OTHER)]
)
def test_gate_label(by: str, label: str) -> None:
    assert gate_label(by) == label


@pytest.mark.parametrize(
    "host,decided_by,table,label",
    [
        ("api.example.com", TABLE.routes[2], TABLE, "api.example.com"),
        # Refused, but the host is a route's: its first route names it.
        ("api.example.com", None, TABLE, "api.example.com"),
        ("a.b.example.org", None, TABLE, "*.example.org"),
        ("example.org", None, TABLE, NO_ROUTE),
        ("evil.example", None, TABLE, NO_ROUTE),
        ("10.0.0.1", None, TABLE, NO_ROUTE),
        ("api.example.com", None, None, NO_ROUTE),
    ],
)
def test_host_label(host: str, decided_by: Route | None, table: RouteTable | None, label: str) -> None:
    assert host_label(host, decided_by, table) == label


@pytest.mark.parametrize(
    "auth,label",
    [
        (Auth("Authorization", "EGRESS_PROXY_TOKEN_0", "secret-value", token="github"), "github"),  # noqa: S106 - a token's name
        (Auth("X-Api-Key", "EGRESS_PROXY_TOKEN_3", "secret-value"), "EGRESS_PROXY_TOKEN_3"),
        (None, None),
    ],
)
def test_token_label_is_the_name_never_the_value(auth: Auth | None, label: str | None) -> None:
    assert token_label(route(0, "api.example.com", auth)) == label


@pytest.mark.parametrize(
    "text,listen",
    [("10.0.1.5:9464", ("10.0.1.5", 9464)), ("127.0.0.1:1", ("127.0.0.1", 1)), ("[fd00::5]:9464", ("fd00::5", 9464))],
)
def test_parse_listen(text: str, listen: tuple[str, int]) -> None:
    assert parse_listen(text) == listen


@pytest.mark.parametrize(
    "text,message",
    [
        ("0.0.0.0:9464", "not 0.0.0.0"),
        ("[::]:9464", "not ::"),
        ("pipelock:9464", "an IP address"),
        (":9464", "an IP address"),
        ("10.0.1.5", "an IP address"),
        ("10.0.1.5:0", "a port 1-65535"),
        ("10.0.1.5:65536", "a port 1-65535"),
        ("10.0.1.5:http", "a port 1-65535"),
    ],
)
def test_parse_listen_refuses(text: str, message: str) -> None:
    with pytest.raises(MetricsListenError, match=message):
        parse_listen(text)


@pytest.mark.parametrize(
    "path,status", [("/metrics", "200 OK"), ("/", "404 Not Found"), ("/metrics/", "404 Not Found"), ("/x", "404 Not Found")]
)
def test_only_metrics_is_served(path: str, status: str) -> None:
    started: list[str] = []
    body = b"".join(only_metrics(lambda e, s: (s("200 OK", []), [b"m"])[1])({"PATH_INFO": path}, lambda st, h: started.append(st)))
    assert started == [status] and (body == b"m") == (status == "200 OK")


def sample(metrics: EgressMetrics, name: str, **labels: str) -> Any:
    registry: CollectorRegistry = metrics.registry
    return registry.get_sample_value(name, labels)


def test_a_decision_counts_under_bounded_labels() -> None:
    metrics = EgressMetrics()
    metrics.decided(deny("path rejected (dot segment)", "/a/../b"), "deny", "api.example.com", "TRACE", TABLE)
    metrics.decided(Decision(True, "allowed", "", TABLE.routes[1]), "allow", "x.example.org", "CONNECT", TABLE)
    labels = {"decision": "deny", "gate": "egress-proxy", "reason": "path rejected", "host": "api.example.com", "method": "other"}
    assert sample(metrics, "bot_bottle_egress_requests_total", **labels) == 1
    labels = {"decision": "allow", "gate": "egress-proxy", "reason": "allowed", "host": "*.example.org", "method": "CONNECT"}
    assert sample(metrics, "bot_bottle_egress_requests_total", **labels) == 1


def test_a_request_sent_upstream_counts_its_credential_times_and_sizes_once() -> None:
    metrics = EgressMetrics()
    auth = Auth("Authorization", "EGRESS_PROXY_TOKEN_0", "secret-value", token="github")  # noqa: S106 - a token's name
    authed = route(0, "api.example.com", auth)
    flow: dict[str, Any] = {}
    metrics.meter(flow).hook_seconds += 0.002
    metrics.forwarded(flow, authed, True, 300)
    sent = metrics.meter(flow).sent_at
    assert sent is not None
    stream = metrics.meter(flow).counting(lambda chunk: chunk.upper())
    assert stream(b"abc") == b"ABC" and stream(b"de") == b"DE"
    metrics.finished(flow, sent + 0.5, None)
    metrics.finished(flow, sent + 0.5, None)  # an error hook after the response hook: counted once
    assert sample(metrics, "bot_bottle_egress_credentials_injected_total", token="github") == 1  # noqa: S106 - a token's name
    assert sample(metrics, "bot_bottle_egress_hook_seconds_count") == 1
    assert sample(metrics, "bot_bottle_egress_hook_seconds_sum") == pytest.approx(0.002)
    assert sample(metrics, "bot_bottle_egress_chain_seconds_sum", lane="bulk") == pytest.approx(0.5)
    assert sample(metrics, "bot_bottle_egress_request_body_bytes_sum", lane="bulk") == 300
    assert sample(metrics, "bot_bottle_egress_response_body_bytes_sum", lane="bulk") == 5
    assert sample(metrics, "bot_bottle_egress_chain_seconds_count", lane="inspect") is None


def test_a_request_refused_before_leaving_counts_only_its_hook_time() -> None:
    metrics = EgressMetrics()
    flow: dict[str, Any] = {}
    metrics.meter(flow).hook_seconds += 0.001
    metrics.finished(flow, 1.0, 40)
    assert sample(metrics, "bot_bottle_egress_hook_seconds_count") == 1
    for lane in ("inspect", "bulk"):
        assert sample(metrics, "bot_bottle_egress_request_body_bytes_count", lane=lane) is None


def test_a_held_answer_is_measured_whole() -> None:
    metrics = EgressMetrics()
    flow: dict[str, Any] = {}
    metrics.forwarded(flow, None, False, 0)
    metrics.finished(flow, FlowMeter().sent_at or 0.0, 1234)
    assert sample(metrics, "bot_bottle_egress_response_body_bytes_sum", lane="inspect") == 1234
    assert sample(metrics, "bot_bottle_egress_credentials_injected_total", token="") is None


def test_reloads_and_the_document_in_use() -> None:
    metrics = EgressMetrics()
    assert sample(metrics, "bot_bottle_egress_reloads_total", result="ok") == 0
    metrics.loaded("a" * 64)
    metrics.reloaded("b" * 64)
    metrics.reloaded(None)
    assert sample(metrics, "bot_bottle_egress_reloads_total", result="ok") == 1
    assert sample(metrics, "bot_bottle_egress_reloads_total", result="rejected") == 1
    infos = [s for m in metrics.registry.collect() if m.name == "bot_bottle_egress_config_info" for s in m.samples]
    assert [(s.labels, s.value) for s in infos] == [({"sha256": "b" * 64}, 1.0)]
