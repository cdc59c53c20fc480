"""routes.yaml's `credentials` section: the sources the egress proxy mints short-lived
credentials from, each key validated, each secret read from its token variable and checked to
be what it claims (a PEM RSA private key, AWS keys, a Google service account's key file).

Pure: no mitmproxy import (the keys are loaded with `cryptography`, a mitmproxy dependency).
Errors name the entry, the key and the token's variable, never a value.
"""

import json
import urllib.parse
from collections.abc import Mapping

from aws_sigv4 import AwsCredentials
from aws_sts import MAX_SESSION_SECONDS, MIN_SESSION_SECONDS
from config_checks import AWS_NAME_CHARS, NAME_CHARS, RoutesError, is_int, repository_segments, token_variable, type_name, unknown_keys
from credential_sources import AwsSource, GithubAppSource, GoogleServiceAccountSource, Source
from host_names import valid_dns_name

KIND_KEYS: dict[str, frozenset[str]] = {
    GithubAppSource.kind: frozenset({"kind", "app_id", "installation_id", "api_url", "private_key_env", "repositories", "permissions"}),
    AwsSource.kind: frozenset(
        {"kind", "access_key_id_env", "secret_access_key_env", "role_arn", "sts_url", "sts_region", "session_seconds"}
    ),
    GoogleServiceAccountSource.kind: frozenset({"kind", "key_env", "scopes", "token_url"}),
}
# The keys an aws source has exactly when it assumes a role.
ROLE_KEYS = ("sts_url", "sts_region", "session_seconds")
PERMISSION_LEVELS = frozenset({"read", "write"})
PERMISSION_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz_")


def parse_credentials(raw: object, environ: Mapping[str, str]) -> dict[str, Source]:
    """The `credentials` section (absent: {}), its secrets read from `environ`."""
    if not isinstance(raw, dict):
        raise RoutesError(f"credentials: must be a mapping of names to sources, got {type_name(raw)}")
    sources: dict[str, Source] = {}
    for name, entry in raw.items():
        where = f"credentials.{name}"
        if not isinstance(name, str) or not name or not set(name) <= NAME_CHARS:
            raise RoutesError(f"credentials: {name!r} is not a name (letters, digits, '_' and '-')")
        if not isinstance(entry, dict):
            raise RoutesError(f"{where}: must be a mapping, got {type_name(entry)}")
        kind = entry.get("kind")
        if kind not in KIND_KEYS:
            raise RoutesError(f"{where}.kind: must be one of {', '.join(sorted(KIND_KEYS))}, got {kind!r}")
        unknown_keys(entry, KIND_KEYS[kind], where)
        if kind == GithubAppSource.kind:
            sources[name] = _github_app(where, name, entry, environ)
        elif kind == AwsSource.kind:
            sources[name] = _aws(where, name, entry, environ)
        else:
            sources[name] = _google_service_account(where, name, entry, environ)
    return sources


def _github_app(where: str, name: str, entry: Mapping[str, object], environ: Mapping[str, str]) -> GithubAppSource:
    ids = [_digits(f"{where}.{key}", entry.get(key)) for key in ("app_id", "installation_id")]
    api_url = _https_url(f"{where}.api_url", entry.get("api_url"))
    if api_url.endswith("/"):
        raise RoutesError(f"{where}.api_url: must not end with '/', got {api_url!r}")
    key = _rsa_private_key(f"{where}.private_key_env", entry.get("private_key_env"), environ)
    repositories = entry.get("repositories")
    if not isinstance(repositories, list) or not all(_repository(r) for r in repositories):
        raise RoutesError(f"{where}.repositories: must be a list of 'owner/name' ([] for every repository), got {repositories!r}")
    if len({r.split("/")[0].lower() for r in repositories}) > 1:  # GitHub names are case-insensitive
        raise RoutesError(f"{where}.repositories: must share one owner (an installation belongs to one account), got {repositories!r}")
    permissions = entry.get("permissions")
    if (
        not isinstance(permissions, dict)
        or not permissions
        or not all(
            isinstance(p, str) and p and set(p) <= PERMISSION_CHARS and level in PERMISSION_LEVELS for p, level in permissions.items()
        )
    ):
        raise RoutesError(f"{where}.permissions: must map permission names to read or write, got {permissions!r}")
    return GithubAppSource(name, ids[0], ids[1], api_url, key, tuple(sorted(repositories)), tuple(sorted(permissions.items())))


def _aws(where: str, name: str, entry: Mapping[str, object], environ: Mapping[str, str]) -> AwsSource:
    keys = [_aws_key(f"{where}.{key}", entry.get(key), environ) for key in ("access_key_id_env", "secret_access_key_env")]
    try:
        AwsCredentials(keys[0], keys[1])
    except ValueError as e:
        # Its message names the field, never the value.
        raise RoutesError(f"{where}: {e} ({entry.get('access_key_id_env')}, {entry.get('secret_access_key_env')})") from None
    if "role_arn" not in entry:
        present = [key for key in ROLE_KEYS if key in entry]
        if present:
            raise RoutesError(f"{where}.{present[0]}: only with role_arn (static keys sign directly)")
        return AwsSource(name, keys[0], keys[1])
    role_arn = entry["role_arn"]
    if (
        not isinstance(role_arn, str)
        or not role_arn.startswith("arn:")
        or role_arn.count(":") < 5
        or not role_arn.isprintable()
        or " " in role_arn
    ):
        raise RoutesError(f"{where}.role_arn: must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), got {role_arn!r}")
    for key in ROLE_KEYS:
        if key not in entry:
            raise RoutesError(f"{where}.{key}: required with role_arn")
    sts_url = _https_url(f"{where}.sts_url", entry["sts_url"])
    region = entry["sts_region"]
    if not isinstance(region, str) or not region or not set(region) <= AWS_NAME_CHARS:
        raise RoutesError(f"{where}.sts_region: must be an AWS region name such as 'us-east-1', got {region!r}")
    seconds = entry["session_seconds"]
    if not is_int(seconds) or not MIN_SESSION_SECONDS <= seconds <= MAX_SESSION_SECONDS:
        raise RoutesError(f"{where}.session_seconds: must be an integer {MIN_SESSION_SECONDS}..{MAX_SESSION_SECONDS}, got {seconds!r}")
    return AwsSource(name, keys[0], keys[1], role_arn, sts_url, region, seconds)


def _google_service_account(where: str, name: str, entry: Mapping[str, object], environ: Mapping[str, str]) -> GoogleServiceAccountSource:
    at = f"{where}.key_env"
    variable = entry.get("key_env")
    text = token_variable(at, variable, environ)
    try:
        key_file = json.loads(text)
    except json.JSONDecodeError as e:
        # The position only: the message of a decode error can quote the text.
        raise RoutesError(f"{at}: {variable} is not a JSON key file (invalid JSON at line {e.lineno} column {e.colno})") from None
    if not isinstance(key_file, dict):
        raise RoutesError(f"{at}: {variable} is not a service account's JSON key file (not an object)")
    email = key_file.get("client_email")
    if not isinstance(email, str) or "@" not in email or not email.isprintable() or " " in email:
        raise RoutesError(f"{at}: {variable} has no client_email (a service account's JSON key file has one)")
    private_key = key_file.get("private_key")
    if not isinstance(private_key, str):
        raise RoutesError(f"{at}: {variable} has no private_key (a service account's JSON key file has one)")
    _check_rsa_key(at, f"{variable}'s private_key", private_key)
    scopes = entry.get("scopes")
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) and s and s.isprintable() and " " not in s for s in scopes):
        raise RoutesError(f"{where}.scopes: must be a non-empty list of OAuth scopes, got {scopes!r}")
    token_url = _https_url(f"{where}.token_url", entry.get("token_url"))
    return GoogleServiceAccountSource(name, email, private_key, tuple(scopes), token_url)


def _rsa_private_key(where: str, variable: object, environ: Mapping[str, str]) -> str:
    """The PEM RSA private key in the token variable `variable`."""
    key = token_variable(where, variable, environ)
    _check_rsa_key(where, str(variable), key)
    return key


def _check_rsa_key(where: str, what: str, pem: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError, UnicodeError):
        # Not the library's message: it could describe the text.
        raise RoutesError(f"{where}: {what} is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise RoutesError(f"{where}: {what} is not an RSA private key (RS256 needs one)")


def _aws_key(where: str, variable: object, environ: Mapping[str, str]) -> str:
    value = token_variable(where, variable, environ)
    if not all("!" <= c <= "~" for c in value):
        raise RoutesError(f"{where}: {variable} must be printable ASCII without spaces (an AWS key)")
    return value


def _digits(where: str, value: object) -> str:
    text = str(value) if is_int(value) else value
    if not isinstance(text, str) or not text.isascii() or not text.isdigit():
        raise RoutesError(f"{where}: must be digits, got {value!r}")
    return text


def _https_url(where: str, value: object) -> str:
    parsed = urllib.parse.urlsplit(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme != "https" or not valid_dns_name(parsed.hostname or ""):
        raise RoutesError(f"{where}: must be an https:// URL with a host name, got {value!r}")
    try:
        parsed.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise RoutesError(f"{where}: has an invalid port, got {value!r}") from None
    if (
        parsed.username is not None
        or parsed.password is not None
        or parsed.query
        or parsed.fragment
        or "?" in str(value)
        or "#" in str(value)
    ):
        raise RoutesError(f"{where}: must have no user info, query or fragment, got {value!r}")
    if not str(value).isprintable() or " " in str(value):
        raise RoutesError(f"{where}: must be printable without spaces, got {value!r}")
    return str(value)


def _repository(value: object) -> bool:
    segments = repository_segments(value)
    return segments is not None and len(segments) == 2
