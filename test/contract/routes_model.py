"""The egress proxy's side of the routes.yaml contract, as JSON (test/contract/contract.test.ts).

Reads {"documents": {id: routes.yaml text}, "hosts": [...], "paths": [...]} on stdin and
prints what the addon's own route model (routes_yaml.py and egress_routes.py, the modules the
image runs) makes of each: the routes it would enforce, whether it takes each host and path prefix, the lists
and defaults it holds, and the keys it accepts.
"""

import base64
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "components" / "egress-proxy" / "image"))

import egress_lanes as lanes
import egress_routes as model
import routes_yaml
from credential_sources import Source
from git_rules import PushRules

# Every token variable reads as this, so an injected header's prefix is what precedes it.
TOKEN = "<token>"


def _push(rules: "PushRules | None") -> dict[str, object] | bool:
    """The push rules as the config's spec holds them (false: no push)."""
    if rules is None:
        return False
    return {"refs": list(rules.refs), "create": rules.create, "delete": rules.delete, "tags": rules.tags}


def _private_key_pem() -> str:
    """An RSA key for the sources whose secret must be one (a GitHub App's, a service account's)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def _source_secrets(text: str) -> dict[str, str]:
    """Values of the right kind for the variables the document's credential sources name."""
    from ruamel.yaml import YAML

    document = YAML(typ="safe").load(text)
    sources = document.get("credentials", {}) if isinstance(document, dict) else {}
    if not sources:
        return {}
    pem = _private_key_pem()
    kinds = {
        "private_key_env": pem,
        "access_key_id_env": "AKIDEXAMPLE",
        "secret_access_key_env": "wJalrXUtnFEMIEXAMPLEKEY",
        "key_env": json.dumps({"client_email": "agent@example.iam.gserviceaccount.com", "private_key": pem}),
    }
    return {variable: kinds[key] for source in sources.values() for key, variable in source.items() if key in kinds}


def source_json(source: Source) -> dict[str, object]:
    """A credential source as the config's spec renders it, its secrets left out."""
    fields = {k: v for k, v in dataclasses.asdict(source).items() if k not in SECRET_FIELDS and v not in ("", 0)}
    fields["kind"] = source.kind
    for key in ("repositories", "scopes"):
        if key in fields:
            fields[key] = list(fields[key])
    if "permissions" in fields:
        fields["permissions"] = dict(fields["permissions"])
    return fields


SECRET_FIELDS = frozenset({"name", "private_key", "access_key_id", "secret_access_key", "client_email"})


def route_json(route: model.Route) -> dict[str, object]:
    auth: dict[str, object] | None = None
    if route.auth is not None and route.auth.credential:
        # A minted credential: no value yet, its prefix and user name as routes.yaml gives them.
        auth = {"token": route.auth.token, "credential": route.auth.credential}
        if route.auth.sigv4 is not None:
            auth["sigv4"] = {"service": route.auth.sigv4.service, "region": route.auth.sigv4.region}
        else:
            auth.update(header=route.auth.header, prefix=route.auth.prefix)
            if route.auth.basic_username:
                auth["username"] = route.auth.basic_username
    elif route.auth is not None:
        auth = {"header": route.auth.header, "prefix": "", "token": route.auth.token, "token_env": route.auth.token_env}
        if route.auth.basic_username:
            credentials = base64.b64encode(f"{route.auth.basic_username}:{TOKEN}".encode()).decode()
            assert route.auth.value == f"Basic {credentials}", route.auth.value
            auth["username"] = route.auth.basic_username
        else:
            assert route.auth.value.endswith(TOKEN)
            auth["prefix"] = route.auth.value[: -len(TOKEN)]
    return {
        "host": route.host,
        "ports": sorted(route.ports),
        "methods": sorted(route.methods),
        "paths": list(route.path_allowlist) if route.path_allowlist is not None else None,
        "auth": auth,
        "insecure_cleartext_ports": sorted(route.cleartext_ports),
        "git": {"repositories": list(route.git.repositories), "push": _push(route.git.push)} if route.git is not None else None,
        "bulk": sorted(route.bulk),
    }


def load(text: str) -> dict[str, object]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        environ = {f"{routes_yaml.TOKEN_ENV_PREFIX}{i}": TOKEN for i in range(64)} | _source_secrets(text)
        try:
            table = routes_yaml.load_config(f.name, "", environ)[0]
        except routes_yaml.RoutesError as e:
            return {"error": str(e)}
    per_minute = table.rate_limiter.per_minute if table.rate_limiter is not None else None
    return {
        "audit": table.audit,
        "allow_hint": table.allow_hint,
        "requests_per_minute": per_minute,
        "bulk_lane": (
            {"scan_headers": sorted(table.bulk_lane.scan_headers), "answer_scan_bytes": table.bulk_lane.answer_scan_bytes}
            if table.bulk_lane is not None
            else None
        ),
        "passthrough": list(table.passthrough),
        "credentials": {name: source_json(source) for name, source in sorted(table.credentials.items())},
        "routes": [route_json(r) for r in table.routes],
    }


def dotted(keys_under: dict[str, frozenset[str]]) -> list[str]:
    """The keys the model accepts, dotted from where each set sits in the document."""
    return sorted(f"{at}{key}" for at, keys in keys_under.items() for key in keys)


def accepts(route: dict[str, object]) -> bool:
    try:
        routes_yaml.parse_routes({"version": 1, "routes": [route]}, {})
        return True
    except routes_yaml.RoutesError:
        return False


def main() -> None:
    request = json.load(sys.stdin)
    json.dump(
        {
            "constants": {
                "reserved_headers": sorted(routes_yaml.FORBIDDEN_AUTH_HEADERS),
                "http_methods": sorted(model.HTTP_METHODS),
                "default_ports": sorted(routes_yaml.DEFAULT_PORTS),
                "default_credential_ports": sorted(routes_yaml.DEFAULT_CREDENTIAL_PORTS),
                "token_env_prefix": routes_yaml.TOKEN_ENV_PREFIX,
                "listen_port": model.DEFAULT_LISTEN_PORT,
                "route_reasons": sorted(model.AUDITABLE_REASONS),
                "bulk_kinds": sorted(lanes.BULK_KINDS),
            },
            "keys": {
                "route": dotted(
                    {
                        "": routes_yaml.ROUTE_KEYS,
                        "git.": routes_yaml.GIT_KEYS,
                        "git.push.": routes_yaml.PUSH_KEYS,
                        "auth.": routes_yaml.AUTH_KEYS,
                        "auth.sigv4.": routes_yaml.SIGV4_KEYS,
                    }
                ),
                "document": dotted({"": routes_yaml.TOP_KEYS, "bulk_lane.": routes_yaml.BULK_LANE_KEYS}),
            },
            "documents": {key: load(text) for key, text in request["documents"].items()},
            "hosts": {host: accepts({"host": host}) for host in request["hosts"]},
            "paths": {path: accepts({"host": "example.com", "path_allowlist": [path]}) for path in request["paths"]},
        },
        sys.stdout,
        indent=1,
        sort_keys=True,
    )


if __name__ == "__main__":
    main()
