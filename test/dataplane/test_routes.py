"""Table-driven unit tests for the addon's pure parts: loading, host and path rules, lookup."""

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import ADDON_DIR  # noqa: F401  (puts the addon's modules on sys.path)
from egress_routes import path_allowed
from host_names import normalize_host
from rate_limit import RATE_LIMIT_MAX_HOSTS, RateLimiter
from request_checks import check_path, check_query, header_problem, parse_authority, scheme_problem, transfer_encoding_problem
from routes_yaml import RoutesError, load_config, parse_routes

ENV = {"EGRESS_PROXY_TOKEN_0": "tok-unit-0", "EGRESS_PROXY_TOKEN_1": "tok-unit-1"}


def doc(*routes: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "routes": list(routes)}


# --------------------------------------------------------------------------- hosts


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("api.github.com", "api.github.com"),
        ("API.GitHub.COM", "api.github.com"),
        ("api.github.com.", "api.github.com"),
        ("api.github.com..", None),  # only one trailing dot is stripped
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example.", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("localhost", "localhost"),
        ("a-b.example", "a-b.example"),
        ("-a.example", None),
        ("a-.example", None),
        ("a_b.example", None),
        ("a b.example", None),
        ("a..example", None),
        ("", None),
        (".", None),
        ("127.0.0.1", None),
        ("127.1", None),
        ("2130706433", None),
        ("0x7f.1", None),
        ("0x7f000001", None),
        ("0177.0.0.1", None),
        ("1.2.3.4.", None),
        ("::1", None),
        ("[::1]", None),
        ("example.123", None),
        ("123.example", "123.example"),
        ("a" * 64 + ".example", None),
        ("evil.example\x00.github.com", None),
        ("evil.example/x", None),
    ],
)
def test_normalize_host(raw: str, expected: str | None) -> None:
    assert normalize_host(raw) == expected


@pytest.mark.parametrize(
    "value,expected",
    [
        ("example.com", ("example.com", None)),
        ("example.com:8443", ("example.com", 8443)),
        ("[::1]:443", ("[::1]", 443)),
        ("[::1]", ("[::1]", None)),
        ("::1", None),
        ("example.com:", None),
        ("example.com:0", None),
        ("example.com:65536", None),
        ("example.com:+1", None),
        ("example.com:١٢", None),
        (":443", None),
        ("", None),
        ("[::1", None),
        ("[::1]x", None),
    ],
)
def test_parse_authority(value: str, expected: object) -> None:
    assert parse_authority(value) == expected


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize(
    "raw,problem",
    [
        (b"/", None),
        (b"/user", None),
        (b"/repos/acme/x.y/..z/a..b/.well-known", None),
        (b"/a%20b/%41%7E", None),
        (b"", "not origin-form"),
        (b"*", "not origin-form"),
        (b"user", "not origin-form"),
        (b"http://example.com/user", "not origin-form"),
        (b"/a/../b", "dot segment"),
        (b"/a/..", "dot segment"),
        (b"/a/./b", "dot segment"),
        (b"/.", "dot segment"),
        (b"/a//b", "empty segment"),
        (b"//a", "empty segment"),
        (b"/a;b", "semicolon"),
        (b"/a\\b", "backslash"),
        (b"/a#b", "fragment"),
        (b"/a b", "control, space or non-ASCII byte"),
        (b"/a\tb", "control, space or non-ASCII byte"),
        (b"/a\x00b", "control, space or non-ASCII byte"),
        (b"/a\x7f", "control, space or non-ASCII byte"),
        (b"/\xc3\xa9", "control, space or non-ASCII byte"),
        (b"/a%2fb", "encoded separator, dot, percent or NUL"),
        (b"/a%2Fb", "encoded separator, dot, percent or NUL"),
        (b"/a%5cb", "encoded separator, dot, percent or NUL"),
        (b"/a%5Cb", "encoded separator, dot, percent or NUL"),
        (b"/%2e%2e/b", "encoded separator, dot, percent or NUL"),
        (b"/%2E", "encoded separator, dot, percent or NUL"),
        (b"/a%25b", "encoded separator, dot, percent or NUL"),
        (b"/a%00", "encoded separator, dot, percent or NUL"),
        (b"/a%", "malformed percent-encoding"),
        (b"/a%2", "malformed percent-encoding"),
        (b"/a%g0", "malformed percent-encoding"),
        (b"/a%c0%afb", "encoded separator, dot, percent or NUL"),
        (b"/a%C1%9C", "encoded separator, dot, percent or NUL"),
        (b"/caf%c3%a9", None),
    ],
)
def test_check_path(raw: bytes, problem: str | None) -> None:
    assert check_path(raw) == problem


@pytest.mark.parametrize(
    "raw,problem",
    [
        (b"", None),
        (b"a=1&b=%20x&c=/d?e", None),
        (b"a HTTP/1.1", "control, space or non-ASCII byte in the query"),
        (b"a\r\nHost: evil", "control, space or non-ASCII byte in the query"),
        (b"a\tb", "control, space or non-ASCII byte in the query"),
        (b"a\x0bb", "control, space or non-ASCII byte in the query"),
        (b"a\x7f", "control, space or non-ASCII byte in the query"),
        (b"\xc3\xa9", "control, space or non-ASCII byte in the query"),
        (b"a#frag", "fragment"),
    ],
)
def test_check_query(raw: bytes, problem: str | None) -> None:
    assert check_query(raw) == problem


@pytest.mark.parametrize(
    "fields,problem",
    [
        ([(b"Accept", b"*/*"), (b"X-A", b"b c\td")], None),
        ([(b"X-Foo", b"a\r\nX-Injected: yes")], "CR, LF or NUL in a header"),
        ([(b"X-Foo", b"a\nb")], "CR, LF or NUL in a header"),
        ([(b"X-Foo", b"a\x00b")], "CR, LF or NUL in a header"),
        ([(b"X-Foo\r\nX-Bar", b"1")], "CR, LF or NUL in a header"),
    ],
)
def test_header_problem(fields: list[tuple[bytes, bytes]], problem: str | None) -> None:
    assert header_problem(fields) == problem


@pytest.mark.parametrize(
    "path,allowlist,allowed",
    [
        ("/user", ["/user"], True),
        ("/user/", ["/user"], True),
        ("/user/x", ["/user"], True),
        ("/users", ["/user"], False),
        ("/use", ["/user"], False),
        ("/repos/acme/x", ["/repos/acme/"], True),
        ("/repos/acme/", ["/repos/acme/"], True),
        ("/repos/acme", ["/repos/acme/"], False),
        ("/repos/acmex", ["/repos/acme/"], False),
        ("/anything", ["/"], True),
        ("/b/c", ["/a", "/b"], True),
        ("/c", ["/a", "/b"], False),
    ],
)
def test_path_allowed_on_segment_boundaries(path: str, allowlist: list[str], allowed: bool) -> None:
    assert path_allowed(path, allowlist) is allowed


# --------------------------------------------------------------------------- loading


def test_minimal_route_gets_the_defaults() -> None:
    table = parse_routes(doc({"host": "api.github.com"}), ENV)
    [route] = table.routes
    assert route.ports == frozenset({80, 443})
    assert route.methods == frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
    assert route.path_allowlist is None and route.auth is None and route.cleartext_ports == frozenset()
    assert table.injected_headers == frozenset()


def test_a_credential_route_defaults_to_https_only() -> None:
    auth = {"header": "Authorization", "token_env": "EGRESS_PROXY_TOKEN_0"}
    [route] = parse_routes(doc({"host": "api.github.com", "auth": auth}), ENV).routes
    assert route.ports == frozenset({443})


def test_full_route() -> None:
    table = parse_routes(
        doc(
            {
                "host": "api.github.com",
                "ports": [443],
                "methods": ["GET", "POST"],
                "path_allowlist": ["/repos/acme/", "/user"],
                "auth": {"header": "Authorization", "prefix": "Bearer ", "token_env": "EGRESS_PROXY_TOKEN_0"},
            }
        ),
        ENV,
    )
    [route] = table.routes
    assert route.ports == frozenset({443})
    assert route.methods == frozenset({"GET", "POST"})
    assert route.path_allowlist == ("/repos/acme/", "/user")
    assert route.auth is not None and route.auth.value == "Bearer tok-unit-0"
    assert table.injected_headers == frozenset({"authorization"})
    assert "tok-unit-0" not in repr(route)  # never in a traceback or log


def test_basic_credentials_are_built_from_the_user_name_and_the_token() -> None:
    auth = {"header": "Authorization", "basic_username": "x-access-token", "token": "github", "token_env": "EGRESS_PROXY_TOKEN_0"}
    [route] = parse_routes(doc({"host": "github.com", "auth": auth}), ENV).routes
    assert route.auth is not None
    assert route.auth.value == "Basic eC1hY2Nlc3MtdG9rZW46dG9rLXVuaXQtMA=="  # base64("x-access-token:tok-unit-0")
    assert (route.auth.token, route.auth.basic_username) == ("github", "x-access-token")


def test_empty_route_list_is_valid_and_refuses_everything() -> None:
    table = parse_routes(doc(), ENV)
    assert not table.decide_connect("example.com", 443).allowed


INVALID: list[tuple[str, object, str]] = [
    ("not a mapping", [1, 2], "top level: must be a mapping"),
    ("null document", None, "top level: must be a mapping"),
    ("unknown top key", {"version": 1, "routes": [], "rotues": []}, "top level: unknown key 'rotues'"),
    ("missing version", {"routes": []}, "version: must be 1, got None"),
    ("version 2", {"version": 2, "routes": []}, "version: must be 1, got 2"),
    ("version string", {"version": "1", "routes": []}, "version: must be 1, got '1'"),
    ("version float", {"version": 1.0, "routes": []}, "version: must be 1, got 1.0"),
    ("version bool", {"version": True, "routes": []}, "version: must be 1, got True"),
    ("missing routes", {"version": 1}, "routes: required list, got null"),
    ("routes mapping", {"version": 1, "routes": {}}, "routes: required list, got dict"),
    ("rate limit zero", {"version": 1, "routes": [], "requests_per_minute": 0}, "requests_per_minute: must be a positive integer, got 0"),
    ("rate limit string", {"version": 1, "routes": [], "requests_per_minute": "60"}, "requests_per_minute: must be a positive integer, got '60'"),
    ("rate limit bool", {"version": 1, "routes": [], "requests_per_minute": True}, "requests_per_minute: must be a positive integer, got True"),
    ("route not mapping", doc("api.github.com"), "routes[0]: must be a mapping, got str"),  # type: ignore[arg-type]
    ("unknown route key", doc({"host": "a.example", "path_allowList": ["/"]}), "routes[0]: unknown key 'path_allowList'"),
    ("missing host", doc({"ports": [443]}), "routes[0].host: required string, got null"),
    ("host int", doc({"host": 5}), "routes[0].host: required string, got int"),
    ("host uppercase", doc({"host": "API.github.com"}), "routes[0].host: 'API.github.com' is not a lowercase DNS name"),
    ("host ip", doc({"host": "127.0.0.1"}), "routes[0].host: '127.0.0.1'"),
    ("host with port", doc({"host": "a.example:443"}), "routes[0].host"),
    ("host trailing dot", doc({"host": "a.example."}), "routes[0].host"),
    ("host unicode", doc({"host": "bücher.example"}), "xn--"),
    ("bare wildcard", doc({"host": "*"}), "routes[0].host"),
    ("inner wildcard", doc({"host": "a.*.example"}), "routes[0].host"),
    ("top-level wildcard", doc({"host": "*.com"}), "routes[0].host: '*.com' covers a whole top-level domain"),
    ("ports string", doc({"host": "a.example", "ports": "443"}), "routes[0].ports: must be a non-empty list"),
    ("ports empty", doc({"host": "a.example", "ports": []}), "routes[0].ports: must be a non-empty list"),
    ("port bool", doc({"host": "a.example", "ports": [True]}), "routes[0].ports[0]: must be an integer 1-65535, got True"),
    ("port zero", doc({"host": "a.example", "ports": [443, 0]}), "routes[0].ports[1]"),
    ("port too big", doc({"host": "a.example", "ports": [70000]}), "routes[0].ports[0]"),
    ("port string", doc({"host": "a.example", "ports": ["443"]}), "routes[0].ports[0]"),
    ("methods string", doc({"host": "a.example", "methods": "GET"}), "routes[0].methods: must be a non-empty list"),
    ("method lowercase", doc({"host": "a.example", "methods": ["get"]}), "routes[0].methods[0]: must be one of DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, got 'get'"),
    ("method TRACE", doc({"host": "a.example", "methods": ["GET", "TRACE"]}), "routes[0].methods[1]: must be one of DELETE, GET"),
    ("method CONNECT", doc({"host": "a.example", "methods": ["CONNECT"]}), "routes[0].methods[0]: must be one of"),
    ("cleartext without auth", doc({"host": "a.example", "ports": [80], "insecure_cleartext_ports": [80]}), "routes[0].insecure_cleartext_ports: only a route with auth"),
    ("cleartext port not a route port", doc({"host": "a.example", "ports": [443], "auth": {"header": "A", "token_env": "EGRESS_PROXY_TOKEN_0"}, "insecure_cleartext_ports": [80]}), "routes[0].insecure_cleartext_ports: must be a non-empty list of the route's ports, got [80]"),
    ("cleartext empty", doc({"host": "a.example", "ports": [80], "auth": {"header": "A", "token_env": "EGRESS_PROXY_TOKEN_0"}, "insecure_cleartext_ports": []}), "routes[0].insecure_cleartext_ports: must be a non-empty list"),
    ("method int", doc({"host": "a.example", "methods": [1]}), "routes[0].methods[0]"),
    ("paths string", doc({"host": "a.example", "path_allowlist": "/x"}), "routes[0].path_allowlist: must be a non-empty list"),
    ("path relative", doc({"host": "a.example", "path_allowlist": ["x"]}), "routes[0].path_allowlist[0]: 'x' is not an allowed path prefix (not origin-form)"),
    ("path dots", doc({"host": "a.example", "path_allowlist": ["/a/../b"]}), "(dot segment)"),
    ("path query", doc({"host": "a.example", "path_allowlist": ["/a?b"]}), "(query)"),
    ("path int", doc({"host": "a.example", "path_allowlist": [1]}), "routes[0].path_allowlist[0]: must be a string"),
    ("auth string", doc({"host": "a.example", "auth": "Bearer x"}), "routes[0].auth: must be a mapping"),
    ("unknown auth key", doc({"host": "a.example", "auth": {"header": "A", "token_env": "EGRESS_PROXY_TOKEN_0", "value": "x"}}), "routes[0].auth: unknown key 'value'"),
    ("auth no header", doc({"host": "a.example", "auth": {"token_env": "EGRESS_PROXY_TOKEN_0"}}), "routes[0].auth.header"),
    ("auth bad header", doc({"host": "a.example", "auth": {"header": "X Key", "token_env": "EGRESS_PROXY_TOKEN_0"}}), "routes[0].auth.header"),
    ("auth host header", doc({"host": "a.example", "auth": {"header": "Host", "token_env": "EGRESS_PROXY_TOKEN_0"}}), "cannot be injected"),
    ("auth proxy-authorization", doc({"host": "a.example", "auth": {"header": "Proxy-Authorization", "token_env": "EGRESS_PROXY_TOKEN_0"}}), "'Proxy-Authorization' cannot be injected"),
    ("auth prefix crlf", doc({"host": "a.example", "auth": {"header": "A", "prefix": "x\r\nY: z", "token_env": "EGRESS_PROXY_TOKEN_0"}}), "routes[0].auth.prefix"),
    ("auth prefix int", doc({"host": "a.example", "auth": {"header": "A", "prefix": 1, "token_env": "EGRESS_PROXY_TOKEN_0"}}), "routes[0].auth.prefix"),
    ("basic user name with a colon", doc({"host": "a.example", "auth": {"header": "A", "basic_username": "a:b", "token_env": "EGRESS_PROXY_TOKEN_0"}}), "routes[0].auth.basic_username: must be a user name without spaces"),
    ("basic credentials with a prefix", doc({"host": "a.example", "auth": {"header": "A", "prefix": "x ", "basic_username": "u", "token_env": "EGRESS_PROXY_TOKEN_0"}}), "routes[0].auth.prefix: Basic credentials (basic_username) take no prefix"),
    ("token name with a space", doc({"host": "a.example", "auth": {"header": "A", "token": "my token", "token_env": "EGRESS_PROXY_TOKEN_0"}}), "routes[0].auth.token: must be a token name"),
    ("token_env other var", doc({"host": "a.example", "auth": {"header": "A", "token_env": "HOME"}}), "routes[0].auth.token_env: must name an environment variable EGRESS_PROXY_TOKEN_<N>"),
    ("token_env missing", doc({"host": "a.example", "auth": {"header": "A"}}), "routes[0].auth.token_env"),
    ("token_env unset", doc({"host": "a.example"}, {"host": "b.example", "auth": {"header": "A", "token_env": "EGRESS_PROXY_TOKEN_9"}}), "routes[1].auth.token_env: EGRESS_PROXY_TOKEN_9 is not set"),
]  # fmt: skip


@pytest.mark.parametrize("name,document,message", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_documents_are_refused_with_the_place_named(name: str, document: object, message: str) -> None:
    with pytest.raises(RoutesError) as err:
        parse_routes(document, ENV)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "token,message",
    [
        ("", "EGRESS_PROXY_TOKEN_0 is empty"),
        ("abc\r\nX-Evil: 1", "EGRESS_PROXY_TOKEN_0 contains a control or non-ASCII character"),
        ("abc\x00", "contains a control"),
        ("tökén", "contains a control or non-ASCII"),
    ],
)
def test_bad_token_values_are_refused_without_being_shown(token: str, message: str) -> None:
    document = doc({"host": "a.example", "auth": {"header": "A", "token_env": "EGRESS_PROXY_TOKEN_0"}})
    with pytest.raises(RoutesError) as err:
        parse_routes(document, {"EGRESS_PROXY_TOKEN_0": token})
    assert message in str(err.value)
    if token:
        assert token not in str(err.value)


@pytest.mark.parametrize(
    "text,message",
    [
        ("version: [1\n", "invalid YAML"),
        ("version: 1\nversion: 1\nroutes: []\n", "invalid YAML"),  # duplicate keys are an error, not "last wins"
        ("version: 1\nroutes:\n  - host: a.example\n    host: b.example\n", "invalid YAML"),
        ("!!python/object:os.system {}\n", "invalid YAML"),
        ("version: 1\nroutes:\n  - host: a.example\n    ports: [443]\n    metods: [GET]\n", "routes[0]: unknown key 'metods'"),
    ],
)
def test_load_config_file_errors_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    with pytest.raises(RoutesError) as err:
        load_config(str(path), "", ENV)
    assert str(path) in str(err.value) and message in str(err.value)


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RoutesError, match="cannot read routes file"):
        load_config(str(tmp_path / "absent.yaml"), "", ENV)


def test_load_config_unset_option() -> None:
    with pytest.raises(RoutesError, match="no routes file given"):
        load_config("", "", ENV)


def test_load_config_reads_yaml_and_json(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        "version: 1\nroutes:\n  - host: api.github.com\n    ports: [443]\n"
        "    auth: {header: Authorization, prefix: 'Bearer ', token_env: EGRESS_PROXY_TOKEN_1}\n"
    )
    [route] = load_config(str(path), "", ENV)[0].routes
    assert route.auth is not None and route.auth.value == "Bearer tok-unit-1"
    path.write_text(json.dumps(doc({"host": "a.example"})))
    assert len(load_config(str(path), "", ENV)[0].routes) == 1


# --------------------------------------------------------------------------- lookup

TABLE = parse_routes(
    doc(
        {"host": "api.github.com", "ports": [443], "methods": ["GET"], "path_allowlist": ["/user"]},  # 0
        {"host": "*.example.com"},  # 1
        {"host": "deep.a.example.com", "ports": [8443]},  # 2
        {"host": "api.github.com", "ports": [443], "methods": ["POST"], "path_allowlist": ["/repos/acme/"]},  # 3
        {"host": "*.a.example.com", "ports": [9000]},  # 4
    ),
    ENV,
)


@pytest.mark.parametrize(
    "host,port,allowed,route",
    [
        ("api.github.com", 443, True, 0),
        ("api.github.com", 80, False, None),
        ("github.com", 443, False, None),
        ("x.api.github.com", 443, False, None),
        ("a.example.com", 443, True, 1),
        ("b.a.example.com", 80, True, 1),
        ("example.com", 443, False, None),  # the apex is not a subdomain
        ("notexample.com", 443, False, None),
        ("deep.a.example.com", 8443, True, 2),
        ("deep.a.example.com", 443, True, 1),
        ("x.a.example.com", 9000, True, 4),
        ("a.example.com", 9000, False, None),
        ("com", 443, False, None),
    ],
)
def test_connect_lookup(host: str, port: int, allowed: bool, route: int | None) -> None:
    decision = TABLE.decide_connect(host, port)
    assert decision.allowed is allowed
    assert (decision.route.index if decision.route else None) == route


@pytest.mark.parametrize(
    "host,port,method,path,allowed,message",
    [
        ("api.github.com", 443, "GET", "/user", True, 0),
        ("api.github.com", 443, "POST", "/repos/acme/x", True, 3),
        ("api.github.com", 443, "GET", "/repos/acme/x", False, "egress-proxy: path not allowed for api.github.com: /repos/acme/x"),
        ("api.github.com", 443, "POST", "/user", False, "egress-proxy: path not allowed for api.github.com: /user"),
        ("api.github.com", 443, "DELETE", "/user", False, "egress-proxy: method not allowed for api.github.com: DELETE"),
        ("api.github.com", 22, "GET", "/user", False, "egress-proxy: port not allowed for api.github.com: 22"),
        ("example.org", 443, "GET", "/", False, "egress-proxy: host not in allowlist: example.org"),
        ("x.example.com", 80, "PATCH", "/anything", True, 1),
    ],
)
def test_request_lookup(host: str, port: int, method: str, path: str, allowed: bool, message: object) -> None:
    decision = TABLE.decide_request(host, port, method, path)
    assert decision.allowed is allowed
    if allowed:
        assert decision.route is not None and decision.route.index == message
    else:
        assert decision.message == message and decision.route is None


class CountingDict(dict):  # type: ignore[type-arg]
    lookups = 0

    def get(self, key: Any, default: Any = None) -> Any:
        CountingDict.lookups += 1
        return super().get(key, default)


@pytest.mark.parametrize("size", [10, 10_000])
def test_lookup_cost_does_not_grow_with_the_number_of_routes(size: int) -> None:
    routes = [{"host": f"h{i}.example.net"} for i in range(size // 2)]
    routes += [{"host": f"*.w{i}.example.org"} for i in range(size // 2)]
    table = parse_routes(doc(*routes), ENV)
    table.exact = CountingDict(table.exact)
    table.wildcard = CountingDict(table.wildcard)
    CountingDict.lookups = 0
    assert table.decide_connect("a.b.w3.example.org", 443).allowed
    assert not table.decide_connect("a.b.c.d.example.com", 443).allowed
    # One exact lookup plus one per parent domain: (1 + 4) + (1 + 5), whatever the size.
    assert CountingDict.lookups == 11


# --------------------------------------------------------------------------- rate limit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_absent_means_no_limiter() -> None:
    assert parse_routes(doc(), ENV).rate_limiter is None
    assert parse_routes({**doc(), "requests_per_minute": 90}, ENV).rate_limiter.per_minute == 90  # type: ignore[union-attr]


def test_rate_limiter_allows_a_minute_s_worth_in_a_burst_then_refills_per_host() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock)
    assert [limiter.take("a.example") for _ in range(60)] == [None] * 60
    wait = limiter.take("a.example")
    assert wait is not None and 0.99 < wait <= 1.0  # one token a second at 60 a minute
    assert limiter.take("b.example") is None  # each host has its own bucket
    clock.now += 0.5
    assert limiter.take("a.example") is not None
    clock.now += 0.5
    assert limiter.take("a.example") is None
    assert limiter.take("a.example") is not None
    clock.now += 3600
    assert [limiter.take("a.example") for _ in range(60)] == [None] * 60  # never more than a minute's worth


def test_rate_limiter_refusals_do_not_consume_tokens() -> None:
    clock = Clock()
    limiter = RateLimiter(2, clock)
    assert limiter.take("a.example") is None and limiter.take("a.example") is None
    for _ in range(100):
        assert limiter.take("a.example") is not None
    clock.now += 30  # one token at 2 a minute
    assert limiter.take("a.example") is None


def test_rate_limiter_memory_is_bounded_by_dropping_idle_hosts() -> None:
    clock = Clock()
    limiter = RateLimiter(10, clock)
    for i in range(RATE_LIMIT_MAX_HOSTS):
        limiter.take(f"h{i}.example")
    clock.now += 60  # every bucket has refilled
    limiter.take("new.example")
    assert len(limiter.buckets) == 1


@pytest.mark.parametrize(
    "scheme,port,in_tunnel,problem",
    [
        ("https", 443, True, None),
        ("http", 80, False, None),
        ("https", 8443, True, None),
        ("http", 8080, False, None),
        ("http", 443, True, "plain HTTP inside a CONNECT tunnel"),
        ("http", 80, True, "plain HTTP inside a CONNECT tunnel"),
        ("http", 443, False, "plain HTTP to port 443"),
        ("https", 80, True, "TLS to port 80"),
    ],
)
def test_scheme_problem(scheme: str, port: int, in_tunnel: bool, problem: str | None) -> None:
    assert scheme_problem(scheme, port, in_tunnel) == problem


@pytest.mark.parametrize(
    "values,problem",
    [
        ([], None),
        (["chunked"], None),
        ([" Chunked "], None),
        (["gzip, chunked"], "gzip, chunked"),
        (["chunked, identity"], "chunked, identity"),
        (["gzip", "chunked"], "gzip, chunked"),
        (["chunked", "chunked"], "chunked, chunked"),
        (["identity"], "identity"),
    ],
)
def test_transfer_encoding_problem(values: list[str], problem: str | None) -> None:
    assert transfer_encoding_problem(values) == problem


def test_a_credential_route_needs_tls_unless_the_port_is_opted_into_cleartext() -> None:
    auth = {"header": "Authorization", "token_env": "EGRESS_PROXY_TOKEN_0"}
    table = parse_routes(doc({"host": "a.example", "ports": [80, 443, 8080], "auth": auth, "insecure_cleartext_ports": [80]}), ENV)
    assert table.decide_request("a.example", 443, "GET", "/", tls=True).allowed
    assert table.decide_request("a.example", 8080, "GET", "/", tls=True).allowed
    assert table.decide_request("a.example", 80, "GET", "/", tls=False).allowed
    refused = table.decide_request("a.example", 8080, "GET", "/", tls=False)
    assert (refused.allowed, refused.message) == (
        False,
        "egress-proxy: credentials only over TLS for a.example: plain HTTP to port 8080 (use https://)",
    )
    # A route without a credential has nothing to protect.
    plain = parse_routes(doc({"host": "b.example", "ports": [8080]}), ENV)
    assert plain.decide_request("b.example", 8080, "GET", "/", tls=False).allowed


@pytest.mark.parametrize("method", ["TRACE", "TRACK", "CONNECT", "PROPFIND", "get", ""])
def test_methods_outside_the_http_set_are_refused_by_any_route(method: str) -> None:
    table = parse_routes(doc({"host": "a.example"}), ENV)
    decision = table.decide_request("a.example", 443, method, "/")
    assert (decision.allowed, decision.reason) == (False, "method not allowed")


def test_refusals_the_routes_could_cover_name_the_command_that_allows_them() -> None:
    document = {
        **doc({"host": "api.github.com", "ports": [443], "methods": ["GET"]}),
        "allow_hint": "npm run bottle -- blocked dev coder --suggest",
    }
    table = parse_routes(document, ENV)
    hint = " (to allow it, a human runs: npm run bottle -- blocked dev coder --suggest)"
    assert table.decide_connect("example.org", 443).message == "egress-proxy: host not in allowlist: example.org" + hint
    assert (
        table.decide_request("api.github.com", 443, "POST", "/x").message
        == "egress-proxy: method not allowed for api.github.com: POST" + hint
    )
    # Not for what no route may allow.
    assert (
        table.decide_request("api.github.com", 443, "TRACE", "/x").message == "egress-proxy: method not allowed for api.github.com: TRACE"
    )
