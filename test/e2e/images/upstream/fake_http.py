"""TEST upstream: what server.py hands its fake services (github_fakes.py, google_fakes.py) and
what they answer. A fake sees one whole request and returns an Answer plus what it verified,
which server.py records with the request (requests.jsonl `verified`)."""

import json
import os
import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Where the test puts the public halves of the run's test keys (and the names that go with
# them) before the upstream starts: a directory mounted read-only, never part of the image.
CREDENTIALS_DIR = "/etc/upstream/credentials"


@dataclass(frozen=True)
class Request:
    method: str
    host: str  # the Host header without its port
    path: str  # the raw path, without the query
    query: str  # the raw query, without '?'
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        """The first value of a header (names compared case-insensitively), '' when absent."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), "")


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes | Iterator[bytes]  # an iterator: each piece sent as it comes (chunked)
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_answer(status: int, document: object, headers: list[tuple[str, str]] | None = None) -> Answer:
    return Answer(status, json.dumps(document).encode(), headers=headers or [])


def random_token(prefix: str, length: int) -> str:
    """`prefix` and `length` random letters and digits: the shape of a real service's token."""
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def load_credentials(name: str) -> dict[str, Any] | None:
    """The test's `<name>.json` in CREDENTIALS_DIR, or None when the test gave none."""
    path = os.path.join(CREDENTIALS_DIR, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        loaded: dict[str, Any] = json.load(f)
        return loaded


def lifetime(variable: str) -> int:
    """Seconds a minted credential lives: the environment's `variable`, else an hour."""
    return int(os.environ.get(variable) or 3600)
