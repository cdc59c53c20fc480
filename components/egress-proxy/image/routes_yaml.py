"""routes.yaml and its tokens: reading them, and validating every key before a route exists.

Pure: no mitmproxy import (routes.yaml is read with ruamel.yaml, which mitmproxy depends on,
imported only by parse_routes_yaml). Errors name the file, the route and the key, never a
token's value.
"""

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping

from config_checks import AWS_NAME_CHARS, NAME_CHARS, header_safe, is_int, repository_segments, token_variable, type_name, unknown_keys
from config_checks import TOKEN_ENV_PREFIX as TOKEN_ENV_PREFIX  # routes.yaml's readers and the contract use it from here
from config_checks import RoutesError as RoutesError
from credential_sources import AwsSource, Source
from credentials_yaml import parse_credentials
from decision_log import printable
from egress_lanes import BULK_KINDS, GitRoute
from egress_routes import HTTP_METHODS, Auth, BulkLane, Route, RouteTable, SigV4, header_value
from git_rules import EVERY_REF, REF_PATTERN, PushRules
from host_names import valid_dns_name
from request_checks import check_path

DEFAULT_PORTS = (80, 443)
# A route that injects a credential: HTTPS only, unless it lists ports itself.
DEFAULT_CREDENTIAL_PORTS = (443,)
# Headers a route may not inject: they frame or route the message itself, or are addressed
# to a proxy (the config schema reserves the same list; a contract test compares them).
FORBIDDEN_AUTH_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "expect",
    }
)
TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

ROUTE_KEYS = frozenset({"host", "ports", "methods", "path_allowlist", "git", "auth", "insecure_cleartext_ports", "bulk"})
GIT_KEYS = frozenset({"repositories", "push"})
PUSH_KEYS = frozenset({"refs", "create", "delete", "tags"})
AUTH_KEYS = frozenset({"header", "prefix", "basic_username", "token", "token_env", "credential", "sigv4"})
SIGV4_KEYS = frozenset({"service", "region"})
# Services whose answers are credentials (STS sessions, IAM access keys): signing for them would
# hand the agent credentials of its own, outside the egress proxy.
CREDENTIAL_SERVICES = frozenset({"sts", "iam"})
TOP_KEYS = frozenset({"version", "routes", "requests_per_minute", "audit", "allow_hint", "bulk_lane", "passthrough", "credentials"})
BULK_LANE_KEYS = frozenset({"scan_headers", "answer_scan_bytes"})


def _parse_route(index: int, raw: object, environ: Mapping[str, str], credentials: Mapping[str, Source]) -> Route:
    where = f"routes[{index}]"
    if not isinstance(raw, dict):
        raise RoutesError(f"{where}: must be a mapping, got {type_name(raw)}")
    unknown_keys(raw, ROUTE_KEYS, where)

    host = raw.get("host")
    if not isinstance(host, str):
        raise RoutesError(f"{where}.host: required string, got {type_name(host)}")
    name = host[2:] if host.startswith("*.") else host
    if not valid_dns_name(name):
        raise RoutesError(
            f"{where}.host: {host!r} is not a lowercase DNS name or '*.' + DNS name "
            "(IP literals are not supported; use the IDNA xn-- form for non-ASCII names)"
        )
    if host.startswith("*.") and "." not in name:
        raise RoutesError(f"{where}.host: {host!r} covers a whole top-level domain (a wildcard needs two labels: '*.example.com')")

    ports: frozenset[int] = frozenset(DEFAULT_CREDENTIAL_PORTS if "auth" in raw else DEFAULT_PORTS)
    if "ports" in raw:
        value = raw["ports"]
        if not isinstance(value, list) or not value:
            raise RoutesError(f"{where}.ports: must be a non-empty list of ports, got {type_name(value)}")
        for i, port in enumerate(value):
            if not is_int(port) or not 0 < port < 65536:
                raise RoutesError(f"{where}.ports[{i}]: must be an integer 1-65535, got {port!r}")
        ports = frozenset(value)

    methods = HTTP_METHODS
    if "methods" in raw:
        value = raw["methods"]
        if not isinstance(value, list) or not value:
            raise RoutesError(f"{where}.methods: must be a non-empty list of methods, got {type_name(value)}")
        for i, method in enumerate(value):
            if method not in HTTP_METHODS:
                raise RoutesError(f"{where}.methods[{i}]: must be one of {', '.join(sorted(HTTP_METHODS))}, got {method!r}")
        methods = frozenset(value)

    path_allowlist: tuple[str, ...] | None = None
    if "path_allowlist" in raw:
        value = raw["path_allowlist"]
        if not isinstance(value, list) or not value:
            raise RoutesError(f"{where}.path_allowlist: must be a non-empty list of paths, got {type_name(value)}")
        for i, prefix in enumerate(value):
            if not isinstance(prefix, str):
                raise RoutesError(f"{where}.path_allowlist[{i}]: must be a string, got {type_name(prefix)}")
            problem = check_path(prefix.encode("utf-8"))
            if problem is None and "?" in prefix:
                problem = "query"
            if problem is not None:
                raise RoutesError(f"{where}.path_allowlist[{i}]: {prefix!r} is not an allowed path prefix ({problem})")
        path_allowlist = tuple(value)

    auth: Auth | None = None
    if "auth" in raw:
        auth = _parse_auth(f"{where}.auth", raw["auth"], environ, credentials)

    git: GitRoute | None = None
    if "git" in raw:
        git = _parse_git(f"{where}.git", raw["git"])

    bulk: frozenset[str] = frozenset()
    if "bulk" in raw:
        value = raw["bulk"]
        if not isinstance(value, list) or not value or any(kind not in BULK_KINDS for kind in value) or len(set(value)) != len(value):
            raise RoutesError(f"{where}.bulk: must be a non-empty list of {', '.join(sorted(BULK_KINDS))} without repeats, got {value!r}")
        if "git" in value and git is None:
            raise RoutesError(f"{where}.bulk: 'git' needs the route's git repositories (git)")
        bulk = frozenset(value)

    cleartext_ports: frozenset[int] = frozenset()
    if "insecure_cleartext_ports" in raw:
        value = raw["insecure_cleartext_ports"]
        if auth is None:
            raise RoutesError(f"{where}.insecure_cleartext_ports: only a route with auth has a credential to send in cleartext")
        if not isinstance(value, list) or not value or not all(is_int(p) and p in ports for p in value):
            raise RoutesError(f"{where}.insecure_cleartext_ports: must be a non-empty list of the route's ports, got {value!r}")
        cleartext_ports = frozenset(value)

    return Route(index, host, ports, methods, path_allowlist, auth, cleartext_ports, git, bulk)


def _parse_git(where: str, raw: object) -> GitRoute:
    if not isinstance(raw, dict):
        raise RoutesError(f"{where}: must be a mapping, got {type_name(raw)}")
    unknown_keys(raw, GIT_KEYS, where)
    repositories = raw.get("repositories")
    if not isinstance(repositories, list) or not repositories:
        raise RoutesError(f"{where}.repositories: must be a non-empty list of repository paths, got {type_name(repositories)}")
    for i, repo in enumerate(repositories):
        # `owner/name` (or `group/subgroup/name`) without .git.
        segments = repository_segments(repo)
        if segments is None or len(segments) < 2 or repo.endswith(".git"):
            raise RoutesError(f"{where}.repositories[{i}]: {repo!r} is not a repository path such as 'acme/app'")
    return GitRoute(tuple(repositories), _parse_push(f"{where}.push", raw.get("push", False)))


def _parse_push(where: str, raw: object) -> PushRules | None:
    """false: no push; true: every ref (EVERY_REF); a mapping: its refs and what it may do."""
    if isinstance(raw, bool):
        return EVERY_REF if raw else None
    if not isinstance(raw, dict):
        raise RoutesError(f"{where}: must be true, false or a mapping of refs, create, delete, tags, got {type_name(raw)}")
    unknown_keys(raw, PUSH_KEYS, where)
    refs = raw.get("refs")
    if not isinstance(refs, list) or not refs:
        raise RoutesError(f"{where}.refs: must be a non-empty list of ref patterns, got {type_name(refs)}")
    for i, ref in enumerate(refs):
        if not isinstance(ref, str) or REF_PATTERN.match(ref) is None or ".." in ref or "//" in ref or ref.endswith("/"):
            raise RoutesError(f"{where}.refs[{i}]: {ref!r} is not a ref pattern such as 'refs/heads/agent/*'")
    flags: dict[str, bool] = {}
    for key in ("create", "delete", "tags"):
        value = raw.get(key)
        if not isinstance(value, bool):
            raise RoutesError(f"{where}.{key}: must be true or false, got {value!r}")
        flags[key] = value
    return PushRules(tuple(refs), **flags)


def _parse_auth(where: str, raw: object, environ: Mapping[str, str], credentials: Mapping[str, Source]) -> Auth:
    """The header form (header, prefix, basic_username) or the SigV4 form (sigv4), with exactly
    one of a static token (token_env) and a minted credential (credential)."""
    if not isinstance(raw, dict):
        raise RoutesError(f"{where}: must be a mapping, got {type_name(raw)}")
    unknown_keys(raw, AUTH_KEYS, where)
    token_name = raw.get("token", "")
    if not isinstance(token_name, str) or not all(c in NAME_CHARS for c in token_name):
        raise RoutesError(f"{where}.token: must be a token name (letters, digits, '_' and '-'), got {token_name!r}")
    if "token_env" not in raw and "credential" not in raw:
        raise RoutesError(f"{where}.token_env: required (a static token), unless credential names an entry of credentials")
    if "token_env" in raw and "credential" in raw:
        raise RoutesError(f"{where}.credential: a route injects a static token (token_env) or a minted credential, not both")
    source = _credential(where, raw, credentials)
    if "sigv4" in raw:
        for key in ("header", "prefix", "basic_username"):
            if key in raw:
                raise RoutesError(f"{where}.{key}: a SigV4 route (sigv4) sets its own headers")
        if not isinstance(source, AwsSource):
            raise RoutesError(f"{where}.sigv4: needs a credential of kind aws")
        return Auth("", "", "", token_name, credential=source.name, sigv4=_parse_sigv4(f"{where}.sigv4", raw["sigv4"]))
    if isinstance(source, AwsSource):
        raise RoutesError(f"{where}.credential: {source.name!r} is of kind aws, which only a SigV4 route (sigv4) uses")
    header = raw.get("header")
    if not isinstance(header, str) or not header or not all(c in TOKEN_CHARS for c in header):
        raise RoutesError(f"{where}.header: must be an HTTP header name, got {header!r}")
    if header.lower() in FORBIDDEN_AUTH_HEADERS:
        raise RoutesError(f"{where}.header: {header!r} cannot be injected")
    prefix = raw.get("prefix", "")
    if not isinstance(prefix, str) or not header_safe(prefix):
        raise RoutesError(f"{where}.prefix: must be a string without control characters")
    username = raw.get("basic_username", "")
    if not isinstance(username, str) or not header_safe(username) or ":" in username or " " in username:
        raise RoutesError(f"{where}.basic_username: must be a user name without spaces, ':' or control characters")
    if username and prefix:
        raise RoutesError(f"{where}.prefix: Basic credentials (basic_username) take no prefix")
    auth = Auth(header, "", "", token_name, username, prefix)
    if source is not None:
        return dataclasses.replace(auth, credential=source.name)
    token_env = raw["token_env"]
    # Messages below name the token's variable, never its value.
    token = token_variable(f"{where}.token_env", token_env, environ)
    if not header_safe(token):
        raise RoutesError(f"{where}.token_env: {token_env} contains a control or non-ASCII character")
    return dataclasses.replace(auth, token_env=token_env, value=header_value(auth, token))


def _credential(where: str, raw: Mapping[str, object], credentials: Mapping[str, Source]) -> Source | None:
    """The credentials entry the auth's `credential` names, or None for a static token."""
    if "credential" not in raw:
        return None
    name = raw["credential"]
    if not isinstance(name, str) or name not in credentials:
        known = ", ".join(sorted(credentials)) or "none"
        raise RoutesError(f"{where}.credential: must name an entry of credentials ({known}), got {name!r}")
    return credentials[name]


def _parse_sigv4(where: str, raw: object) -> SigV4:
    if not isinstance(raw, dict):
        raise RoutesError(f"{where}: must be a mapping of service and region, got {type_name(raw)}")
    unknown_keys(raw, SIGV4_KEYS, where)
    names = []
    for key in ("service", "region"):
        value = raw.get(key)
        if not isinstance(value, str) or not value or not set(value) <= AWS_NAME_CHARS:
            raise RoutesError(f"{where}.{key}: must be an AWS {key} name (lowercase letters, digits and '-'), got {value!r}")
        names.append(value)
    if names[0] in CREDENTIAL_SERVICES:
        raise RoutesError(
            f"{where}.service: {names[0]!r} answers with credentials (STS sessions, IAM access keys): "
            "signing for it would hand the agent credentials of its own"
        )
    return SigV4(*names)


def parse_routes(document: object, environ: Mapping[str, str]) -> RouteTable:
    if not isinstance(document, dict):
        raise RoutesError(f"top level: must be a mapping with 'version' and 'routes', got {type_name(document)}")
    unknown_keys(document, TOP_KEYS, "top level")
    version = document.get("version")
    if not is_int(version) or version != 1:
        raise RoutesError(f"version: must be 1, got {version!r}")
    routes = document.get("routes")
    if not isinstance(routes, list):
        raise RoutesError(f"routes: required list, got {type_name(routes)}")
    per_minute = document.get("requests_per_minute")
    if per_minute is not None and (not is_int(per_minute) or per_minute < 1):
        raise RoutesError(f"requests_per_minute: must be a positive integer, got {per_minute!r}")
    audit = document.get("audit", False)
    if not isinstance(audit, bool):
        raise RoutesError(f"audit: must be true or false, got {audit!r}")
    hint = document.get("allow_hint", "")
    if not isinstance(hint, str) or not header_safe(hint) or len(hint) > 200:
        raise RoutesError("allow_hint: must be one line of printable ASCII, at most 200 characters")
    bulk_lane = _parse_bulk_lane(document["bulk_lane"]) if "bulk_lane" in document else None
    passthrough = document.get("passthrough", [])
    if not isinstance(passthrough, list) or not all(
        isinstance(h, str) and valid_dns_name(h[2:] if h.startswith("*.") else h) for h in passthrough
    ):
        raise RoutesError(f"passthrough: must be a list of host names or '*.' + host name, got {passthrough!r}")
    credentials = parse_credentials(document.get("credentials", {}), environ)
    parsed = [_parse_route(i, r, environ, credentials) for i, r in enumerate(routes)]
    if bulk_lane is None and any(route.bulk for route in parsed):
        raise RoutesError("bulk_lane: required when a route names traffic for the bulk lane (bulk)")
    used = {route.auth.credential for route in parsed if route.auth is not None}
    unused = sorted(set(credentials) - used)
    if unused:
        raise RoutesError(f"credentials.{unused[0]}: no route uses it (a route's auth.credential names it); remove it")
    return RouteTable(parsed, per_minute, audit, hint, bulk_lane, tuple(passthrough), credentials)


def _parse_bulk_lane(raw: object) -> BulkLane:
    if not isinstance(raw, dict):
        raise RoutesError(f"bulk_lane: must be a mapping, got {type_name(raw)}")
    unknown_keys(raw, BULK_LANE_KEYS, "bulk_lane")
    headers = raw.get("scan_headers")
    if not isinstance(headers, list) or not all(isinstance(h, str) and h and set(h) <= TOKEN_CHARS for h in headers):
        raise RoutesError(f"bulk_lane.scan_headers: must be a list of header names, got {headers!r}")
    scan_bytes = raw.get("answer_scan_bytes")
    if not is_int(scan_bytes) or scan_bytes < 0:
        raise RoutesError(f"bulk_lane.answer_scan_bytes: must be a number of bytes, got {scan_bytes!r}")
    return BulkLane(frozenset(h.lower() for h in headers), scan_bytes)


def load_config(routes_path: str, tokens_path: str = "", environ: Mapping[str, str] | None = None) -> tuple[RouteTable, str]:
    """Read and validate routes.yaml with its tokens: from the tokens file if one is named,
    else from `environ` (the process environment by default). Returns the table and the
    sha256 of the routes file as read (what a reload confirms). Raises RoutesError naming
    the file and the problem, never a token's value."""
    if not routes_path:
        raise RoutesError("no routes file given (set the egress_routes option / EGRESS_PROXY_ROUTES)")
    # Both files are read through links resolved now: a change swaps the link of their
    # directory (live_config.py) and must not be seen half-made.
    routes_path, tokens_path = os.path.realpath(routes_path), tokens_path and os.path.realpath(tokens_path)
    try:
        with open(routes_path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")
    except (OSError, UnicodeError) as e:
        raise RoutesError(f"{routes_path}: cannot read routes file: {e}") from None
    tokens = load_tokens(tokens_path) if tokens_path else os.environ if environ is None else environ
    try:
        return parse_routes_yaml(text, tokens), hashlib.sha256(raw).hexdigest()
    except RoutesError as e:
        raise RoutesError(f"{routes_path}: {e}") from None


def parse_routes_yaml(text: str, tokens: Mapping[str, str]) -> RouteTable:
    """Validate the text of routes.yaml with its tokens. Raises RoutesError, never naming a
    token's value."""
    from ruamel.yaml import YAML  # a mitmproxy dependency on every supported version
    from ruamel.yaml.error import YAMLError

    try:
        # Safe loader: plain data only; duplicate keys are an error, not "last wins".
        document = YAML(typ="safe").load(text)
    except YAMLError as e:
        raise RoutesError(f"invalid YAML: {e}") from None
    return parse_routes(document, tokens)


def load_tokens(path: str) -> dict[str, str]:
    """The tokens file: one JSON object of token variables (EGRESS_PROXY_TOKEN_<N>) to values.
    Errors name the file and the entry, never a value."""
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except (OSError, UnicodeError) as e:
        raise RoutesError(f"{path}: cannot read tokens file: {e.__class__.__name__}") from None
    except json.JSONDecodeError as e:
        # The position only: the message of a decode error can quote the text.
        raise RoutesError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}") from None
    if not isinstance(document, dict):
        raise RoutesError(f"{path}: must be a JSON object of {TOKEN_ENV_PREFIX}<N> names to values")
    for name, value in document.items():
        if not name.startswith(TOKEN_ENV_PREFIX) or not isinstance(value, str):
            raise RoutesError(f"{path}: entry {printable(name.encode()[:80])!s} must be {TOKEN_ENV_PREFIX}<N> with a string value")
    return document
