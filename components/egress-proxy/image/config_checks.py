"""The checks routes.yaml's readers share (routes_yaml.py, credentials_yaml.py): the error they
raise, and how a value's type, a mapping's keys and a token variable are checked.

Pure: no mitmproxy import. Messages name the file's key and the token's variable, never a value.
"""

from collections.abc import Mapping
from typing import Any, TypeGuard

TOKEN_ENV_PREFIX = "EGRESS_PROXY_TOKEN_"  # noqa: S105 - the prefix of the variables' names, no secret
# A token's name in stack config, and a credentials entry's (letters, digits, "_" and "-"): shown in logs and reviews.
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
# An AWS service or region name as SigV4's credential scope spells it.
AWS_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
REPOSITORY_SEGMENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


class RoutesError(Exception):
    """A routes.yaml problem. The message names file, route and key, never a token value."""


def type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def unknown_keys(mapping: Mapping[Any, Any], allowed: frozenset[str], where: str) -> None:
    unknown = [k for k in mapping if k not in allowed]
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise RoutesError(f"{where}: unknown key {names} (allowed: {', '.join(sorted(allowed))})")


def header_safe(value: str) -> bool:
    return all(" " <= c <= "~" for c in value)


def token_variable(where: str, name: object, environ: Mapping[str, str]) -> str:
    """The value of the token variable `name` (EGRESS_PROXY_TOKEN_<N>), set and not empty.
    Messages name the variable, never its value."""
    if (
        not isinstance(name, str)
        or not name.startswith(TOKEN_ENV_PREFIX)
        or len(name) == len(TOKEN_ENV_PREFIX)
        or not all(c.isascii() and (c.isalnum() or c == "_") for c in name)
    ):
        raise RoutesError(f"{where}: must name an environment variable {TOKEN_ENV_PREFIX}<N>, got {name!r}")
    value = environ.get(name)
    if value is None:
        raise RoutesError(f"{where}: {name} is not set")
    if not value:
        raise RoutesError(f"{where}: {name} is empty")
    return value


def repository_segments(value: object) -> list[str] | None:
    """The segments of a repository path (`owner/name`, `group/subgroup/name`) as the config
    schema accepts them: letters, digits, '.', '_' and '-', none empty or starting with '.' or
    '-'; None for anything else."""
    if not isinstance(value, str):
        return None
    segments = value.split("/")
    return segments if all(s and s[0] not in ".-" and set(s) <= REPOSITORY_SEGMENT_CHARS for s in segments) else None
