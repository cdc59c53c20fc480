"""Minted credentials without a proxy: routes.yaml's `credentials` section and the new auth
forms (every key checked, messages naming the place and never a value), the GitHub App's and the
Google service account's requests and answers (the JWTs checked with `cryptography` alone),
the refresher's timing with a clock of the test's own, and the `credential` log line.
"""

import copy
import json
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest

from conftest import ADDON_DIR
from credential_keys import google_key_file, private_pem, rsa_key, verify_rs256

sys.path.insert(0, str(ADDON_DIR))
import decision_log
import github_app
import google_service_account
from credential_errors import CredentialError
from credential_minting import session_name
from credential_refresher import PENDING, CredentialRefresher, refresh_due, retry_delay, usable_until
from credential_sources import GithubAppSource, GoogleServiceAccountSource, Minted, Source
from egress_metrics import EgressMetrics
from egress_routes import SIGV4_HEADERS, SigV4
from routes_yaml import RoutesError, parse_routes
from sigv4_requests import presigned

APP_KEY = private_pem("github-app")
ENV = {
    "EGRESS_PROXY_TOKEN_0": "static-SECRET-0b1c",
    "EGRESS_PROXY_TOKEN_1": APP_KEY,
    "EGRESS_PROXY_TOKEN_2": "AKIDEXAMPLE",
    "EGRESS_PROXY_TOKEN_3": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "EGRESS_PROXY_TOKEN_4": google_key_file("google-sa", "agent@bot-bottle-test.iam.gserviceaccount.com"),
}
GITHUB = {
    "kind": "github_app",
    "app_id": "123456",
    "installation_id": "7890123",
    "api_url": "https://api.github.com",
    "private_key_env": "EGRESS_PROXY_TOKEN_1",
    "repositories": ["acme/app"],
    "permissions": {"contents": "write", "metadata": "read"},
}
BEDROCK = {"kind": "aws", "access_key_id_env": "EGRESS_PROXY_TOKEN_2", "secret_access_key_env": "EGRESS_PROXY_TOKEN_3"}
ROLE = {
    **BEDROCK,
    "role_arn": "arn:aws:iam::123456789012:role/bedrock-agent",
    "sts_url": "https://sts.amazonaws.com",
    "sts_region": "us-east-1",
    "session_seconds": 3600,
}
VERTEX = {
    "kind": "google_service_account",
    "key_env": "EGRESS_PROXY_TOKEN_4",
    "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
    "token_url": "https://oauth2.googleapis.com/token",
}


def document(**changes: Any) -> dict[str, Any]:
    """The contract's example: a GitHub App for two routes, AWS for a SigV4 route, Google for one."""
    doc: dict[str, Any] = {
        "version": 1,
        "credentials": {"github": GITHUB, "bedrock": BEDROCK, "vertex": VERTEX},
        "routes": [
            {"host": "api.github.com", "auth": {"header": "Authorization", "prefix": "Bearer ", "token": "github", "credential": "github"}},
            {
                "host": "github.com",
                "auth": {"header": "Authorization", "basic_username": "x-access-token", "token": "github", "credential": "github"},
            },
            {
                "host": "bedrock-runtime.us-east-1.amazonaws.com",
                "auth": {"sigv4": {"service": "bedrock", "region": "us-east-1"}, "token": "bedrock", "credential": "bedrock"},
            },
            {"host": "aiplatform.googleapis.com", "auth": {"header": "Authorization", "prefix": "Bearer ", "credential": "vertex"}},
            {"host": "static.example.com", "auth": {"header": "X-Api-Key", "token_env": "EGRESS_PROXY_TOKEN_0"}},
        ],
    }
    doc = copy.deepcopy(doc)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = doc
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        index = int(last) if isinstance(target, list) else last
        if value is DELETE:
            del target[index]
        else:
            target[index] = value
    return doc


DELETE = object()


def test_the_contracts_example_loads() -> None:
    table = parse_routes(document(), ENV)
    github, bedrock, vertex = (table.credentials[n] for n in ("github", "bedrock", "vertex"))
    assert isinstance(github, GithubAppSource) and isinstance(vertex, GoogleServiceAccountSource)
    assert (github.app_id, github.installation_id, github.repositories) == ("123456", "7890123", ("acme/app",))
    assert github.permissions == (("contents", "write"), ("metadata", "read"))
    assert github.private_key == APP_KEY
    assert vertex.client_email == "agent@bot-bottle-test.iam.gserviceaccount.com"
    assert bedrock.narrowing() == {"role": None}
    api, git, sigv4, google, static = (route.auth for route in table.routes)
    assert api is not None and (api.credential, api.prefix, api.value, api.token_env) == ("github", "Bearer ", "", "")
    assert git is not None and (git.credential, git.basic_username) == ("github", "x-access-token")
    assert sigv4 is not None and sigv4.sigv4 == SigV4("bedrock", "us-east-1") and sigv4.header == ""
    assert google is not None and google.credential == "vertex"
    assert static is not None and static.value == ENV["EGRESS_PROXY_TOKEN_0"] and static.credential == ""
    # Every name a SigV4 route sets is stripped from every request it does not sign.
    assert table.stripped_header_bytes >= {h.encode() for h in SIGV4_HEADERS | {"x-api-key"}}


def test_one_owner_in_two_spellings_is_one_owner() -> None:
    # GitHub's names are case-insensitive, and the stack's validation compares owners so.
    table = parse_routes(document(credentials__github={**GITHUB, "repositories": ["Acme/app", "acme/lib"]}), ENV)
    github = table.credentials["github"]
    assert isinstance(github, GithubAppSource) and github.repositories == ("Acme/app", "acme/lib")


def test_a_role_source_and_its_keys() -> None:
    table = parse_routes(document(credentials__bedrock=ROLE), ENV)
    bedrock = table.credentials["bedrock"]
    assert bedrock.narrowing() == {"role": ROLE["role_arn"]}
    assert "wJalr" not in repr(bedrock) and "AKID" not in repr(bedrock) and "PRIVATE" not in repr(table.credentials["github"])


NOT_RSA = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n"
INVALID: list[tuple[str, dict[str, Any], dict[str, str], str]] = [
    ("credentials not a mapping", document(credentials=[]), {}, "credentials: must be a mapping"),
    ("bad name", document(credentials={"a b": GITHUB}), {}, "credentials: 'a b' is not a name"),
    ("unknown kind", document(credentials__github={**GITHUB, "kind": "gitlab"}), {}, "credentials.github.kind: must be one of"),
    ("unknown key", document(credentials__github={**GITHUB, "token": "x"}), {}, "credentials.github: unknown key 'token'"),
    ("app id not digits", document(credentials__github={**GITHUB, "app_id": "12a"}), {}, "credentials.github.app_id: must be digits"),
    ("api_url http", document(credentials__github={**GITHUB, "api_url": "http://api.github.com"}), {}, "credentials.github.api_url: must be an https:// URL"),
    ("api_url userinfo", document(credentials__github={**GITHUB, "api_url": "https://u:p@api.github.com"}), {}, "no user info"),
    ("api_url query", document(credentials__github={**GITHUB, "api_url": "https://api.github.com?x=1"}), {}, "no user info, query"),
    ("api_url slash", document(credentials__github={**GITHUB, "api_url": "https://api.github.com/"}), {}, "must not end with '/'"),
    ("key unset", document(credentials__github={**GITHUB, "private_key_env": "EGRESS_PROXY_TOKEN_9"}), {}, "private_key_env: EGRESS_PROXY_TOKEN_9 is not set"),
    ("key not PEM", document(), {"EGRESS_PROXY_TOKEN_1": "not-a-key-SECRET"}, "private_key_env: EGRESS_PROXY_TOKEN_1 is not an unencrypted PEM private key"),
    ("key not RSA", document(), {"EGRESS_PROXY_TOKEN_1": NOT_RSA}, "EGRESS_PROXY_TOKEN_1 is not an RSA private key"),
    ("two owners", document(credentials__github={**GITHUB, "repositories": ["acme/app", "other/lib"]}), {}, "must share one owner"),
    ("repository form", document(credentials__github={**GITHUB, "repositories": ["app"]}), {}, "repositories: must be a list of 'owner/name'"),
    ("permission level", document(credentials__github={**GITHUB, "permissions": {"contents": "admin"}}), {}, "permissions: must map"),
    ("aws key with a space", document(), {"EGRESS_PROXY_TOKEN_2": "AKID EXAMPLE"}, "access_key_id_env: EGRESS_PROXY_TOKEN_2 must be printable ASCII"),
    ("sts without role", document(credentials__bedrock={**BEDROCK, "sts_url": "https://sts.amazonaws.com"}), {}, "credentials.bedrock.sts_url: only with role_arn"),
    ("role without sts", document(credentials__bedrock={**BEDROCK, "role_arn": ROLE["role_arn"]}), {}, "credentials.bedrock.sts_url: required with role_arn"),
    ("role arn", document(credentials__bedrock={**ROLE, "role_arn": "bedrock-agent"}), {}, "credentials.bedrock.role_arn: must be an IAM role ARN"),
    ("session too long", document(credentials__bedrock={**ROLE, "session_seconds": 43201}), {}, "session_seconds: must be an integer 900..43200"),
    ("google not JSON", document(), {"EGRESS_PROXY_TOKEN_4": "{SECRET"}, "key_env: EGRESS_PROXY_TOKEN_4 is not a JSON key file (invalid JSON at line 1"),
    ("google no email", document(), {"EGRESS_PROXY_TOKEN_4": json.dumps({"private_key": APP_KEY})}, "EGRESS_PROXY_TOKEN_4 has no client_email"),
    ("google no key", document(), {"EGRESS_PROXY_TOKEN_4": json.dumps({"client_email": "a@b.example"})}, "EGRESS_PROXY_TOKEN_4 has no private_key"),
    ("google bad key", document(), {"EGRESS_PROXY_TOKEN_4": json.dumps({"client_email": "a@b.example", "private_key": "SECRET"})}, "EGRESS_PROXY_TOKEN_4's private_key is not an unencrypted PEM"),
    ("scopes empty", document(credentials__vertex={**VERTEX, "scopes": []}), {}, "credentials.vertex.scopes: must be a non-empty list"),
    ("unused source", document(routes__3=DELETE), {}, "credentials.vertex: no route uses it"),
    ("unknown credential", document(routes__0__auth__credential="gitlab"), {}, "routes[0].auth.credential: must name an entry of credentials (bedrock, github, vertex), got 'gitlab'"),
    ("both token_env and credential", document(routes__0__auth__token_env="EGRESS_PROXY_TOKEN_0"), {}, "routes[0].auth.credential: a route injects a static token (token_env) or a minted credential, not both"),  # noqa: S106 - a variable name
    ("neither", document(routes__0__auth__credential=DELETE), {}, "routes[0].auth.token_env: required"),
    ("sigv4 with a github source", document(routes__2__auth__credential="github"), {}, "routes[2].auth.sigv4: needs a credential of kind aws"),
    ("aws on a header route", document(routes__0__auth__credential="bedrock"), {}, "routes[0].auth.credential: 'bedrock' is of kind aws, which only a SigV4 route (sigv4) uses"),
    ("sigv4 with a header", document(routes__2__auth__header="Authorization"), {}, "routes[2].auth.header: a SigV4 route (sigv4) sets its own headers"),
    ("sigv4 unknown key", document(routes__2__auth__sigv4={"service": "bedrock", "region": "us-east-1", "x": 1}), {}, "routes[2].auth.sigv4: unknown key 'x'"),
    ("sigv4 region", document(routes__2__auth__sigv4={"service": "bedrock", "region": "US East"}), {}, "routes[2].auth.sigv4.region: must be an AWS region name"),
    ("sigv4 for sts", document(routes__2__auth__sigv4={"service": "sts", "region": "us-east-1"}), {}, "routes[2].auth.sigv4.service: 'sts' answers with credentials"),
    ("sigv4 for iam", document(routes__2__auth__sigv4={"service": "iam", "region": "us-east-1"}), {}, "routes[2].auth.sigv4.service: 'iam' answers with credentials"),
]  # fmt: skip


@pytest.mark.parametrize("name,doc,env,message", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_credentials_are_refused_with_the_place_named(name: str, doc: dict[str, Any], env: dict[str, str], message: str) -> None:
    with pytest.raises(RoutesError) as err:
        parse_routes(doc, {**ENV, **env})
    assert message in str(err.value)
    for value in (*ENV.values(), *env.values()):
        assert value not in str(err.value) or value.startswith("EGRESS_PROXY_TOKEN_")
    assert "SECRET" not in str(err.value) and "PRIVATE KEY" not in str(err.value)


# --------------------------------------------------------------------------- GitHub App


def github_source(**changes: Any) -> GithubAppSource:
    base = GithubAppSource("github", "123456", "7890123", "https://api.github.com", APP_KEY, ("acme/app", "acme/lib"))
    return GithubAppSource(**{**base.__dict__, "permissions": (("contents", "write"), ("metadata", "read")), **changes})


def test_the_app_jwt_is_rs256_from_60_s_ago_for_10_minutes_issued_by_the_app() -> None:
    claims = verify_rs256(github_app.app_jwt(github_source(), 1_800_000_000.7), rsa_key("github-app").public_key())
    assert claims == {"iat": 1_800_000_000 - 60, "exp": 1_800_000_000 - 60 + 600, "iss": "123456"}


@pytest.mark.parametrize(
    "repositories,body",
    [
        (("acme/app", "acme/lib"), {"repositories": ["app", "lib"], "permissions": {"contents": "write", "metadata": "read"}}),
        ((), {"permissions": {"contents": "write", "metadata": "read"}}),
    ],
)
def test_the_installation_token_request_names_the_repositories_without_their_owner(repositories: tuple[str, ...], body: object) -> None:
    url, headers, sent = github_app.token_request(github_source(repositories=repositories), 1_800_000_000)
    assert url == "https://api.github.com/app/installations/7890123/access_tokens"
    assert ("Accept", "application/vnd.github+json") in headers and ("X-GitHub-Api-Version", "2022-11-28") in headers
    [authorization] = [v for k, v in headers if k == "Authorization"]
    assert verify_rs256(authorization.removeprefix("Bearer "), rsa_key("github-app").public_key())["iss"] == "123456"
    assert json.loads(sent) == body


ANSWERS: list[tuple[int, object, str]] = [
    (401, {"message": "A JSON web token could not be decoded"}, "GitHub did not accept the App's JWT: check app_id and that the private key is the App's (HTTP 401: A JSON web token could not be decoded)"),
    (404, {"message": "Not Found"}, "GitHub found no such installation: is the App installed on that account, and is installationId right? (HTTP 404: Not Found)"),
    (422, {"message": "There is at least one repository that does not exist or is not accessible to the parent installation."}, "GitHub refused the narrowing: a repository is not in the installation"),
    (403, {"message": "x" * 500}, "(HTTP 403: " + "x" * 197 + "...)"),
    (500, "not json", "GitHub did not give an installation token (HTTP 500)"),
    (201, {"token": "ghs_x"}, "GitHub's answer has no token and expires_at"),
    (201, {"token": "ghs x", "expires_at": "2026-01-01T00:00:00Z"}, "GitHub's answer has no token and expires_at"),
    (201, {"token": "ghs_x", "expires_at": "soon"}, "an expires_at that is not a time"),
    # Without a zone it would be read in the machine's local time.
    (201, {"token": "ghs_x", "expires_at": "2027-01-01T00:00:00"}, "GitHub's answer has an expires_at without a time zone"),
]  # fmt: skip


@pytest.mark.parametrize("status,answer,message", ANSWERS)
def test_github_refusals_say_what_to_do(status: int, answer: object, message: str) -> None:
    with pytest.raises(CredentialError) as err:
        github_app.parse_token_answer(status, answer.encode() if isinstance(answer, str) else json.dumps(answer).encode(), 0.0)
    assert message in str(err.value)


def test_github_answer_gives_the_token_and_its_expiry() -> None:
    body = json.dumps({"token": "ghs_abc", "expires_at": "2027-01-01T00:00:00Z", "permissions": {}}).encode()
    minted = github_app.parse_token_answer(201, body, 1_798_000_000.0)
    assert (minted.secret, minted.expires_at, minted.minted_at) == ("ghs_abc", 1_798_761_600.0, 1_798_000_000.0)
    assert "ghs_abc" not in repr(minted)


# --------------------------------------------------------------------------- Google service account


def test_the_google_grant_is_an_rs256_assertion_for_the_scopes_addressed_to_the_token_url() -> None:
    source = GoogleServiceAccountSource(
        "vertex", "sa@p.example", private_pem("google-sa"), ("s1", "s2"), "https://oauth2.example.com/token"
    )
    url, headers, body = google_service_account.token_request(source, 1_800_000_000.2)
    assert url == "https://oauth2.example.com/token" and ("Content-Type", "application/x-www-form-urlencoded") in headers
    form = dict(urllib.parse.parse_qsl(body.decode()))
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = verify_rs256(form["assertion"], rsa_key("google-sa").public_key())
    assert claims == {"iss": "sa@p.example", "scope": "s1 s2", "aud": url, "iat": 1_800_000_000, "exp": 1_800_003_600}


@pytest.mark.parametrize(
    "status,answer,message",
    [
        (
            400,
            {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
            "(HTTP 400: invalid_grant: Invalid JWT Signature.)",
        ),
        (200, {"access_token": "ya29.x"}, "no expires_in"),
        (200, {"expires_in": 3600}, "no access_token"),
    ],
)
def test_google_refusals_quote_the_error_code(status: int, answer: object, message: str) -> None:
    with pytest.raises(CredentialError) as err:
        google_service_account.parse_token_answer(status, json.dumps(answer).encode(), 0.0)
    assert message in str(err.value)


def test_google_answer_gives_the_token_for_its_lifetime() -> None:
    minted = google_service_account.parse_token_answer(200, b'{"access_token": "ya29.t", "expires_in": 3599}', 100.0)
    assert (minted.secret, minted.expires_at) == ("ya29.t", 3699.0)


# --------------------------------------------------------------------------- refresher


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_refresh_is_due_at_half_the_lifetime_and_retries_back_off_to_60_s() -> None:
    assert refresh_due(Minted("t", 1100.0, 100.0)) == 600.0
    assert refresh_due(Minted("t", 1100.0, 100.0), 0.9) == 1000.0
    assert refresh_due(Minted("t", None, 100.0)) is None
    assert [retry_delay(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


@pytest.mark.parametrize(
    "minted,until",
    [
        (Minted("t", 1100.0, 100.0), 1070.0),  # an hour-like lifetime: its last 30 s
        (Minted("t", 200.0, 100.0), 190.0),  # 100 s: its last tenth
        (Minted("t", 100.2, 100.0), 100.18),  # a tiny one: still a tenth
        (Minted("t", 100.0, 100.0), 100.0),  # no life at all: no margin to take
        (Minted("t", None, 100.0), None),  # static keys: always
    ],
)  # fmt: skip
def test_a_credential_is_not_sent_in_its_last_tenth_of_life_nor_its_last_30_s(minted: Minted, until: float | None) -> None:
    assert usable_until(minted) == pytest.approx(until) if until is not None else usable_until(minted) is None


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


class Mints:
    """A mint of the test's own: each call gives a credential living `lifetime` seconds, or fails
    while `failing` is set; records every call."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.calls: list[tuple[str, float]] = []
        self.failing = ""
        self.reports: list[tuple[str, bool, str, bool]] = []
        self.lock = threading.Lock()

    def mint(self, source: Source, now: float) -> Minted:
        with self.lock:
            self.calls.append((source.name, now))
            if self.failing:
                raise CredentialError(self.failing)
            return Minted(f"{source.name}-{len(self.calls)}", now + self.lifetime, now)

    def report(self, source: Source, minted: Minted | None, error: str, refresh: bool) -> None:
        self.reports.append((source.name, minted is not None, error, refresh))


def test_a_tiny_lifetime_is_refreshed_before_it_expires() -> None:
    mints = Mints(lifetime=0.2)
    refresher = CredentialRefresher({"github": github_source()}, mints.mint, mints.report)
    try:
        seen: set[str] = set()
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            got = refresher.current("github")
            if isinstance(got, Minted):
                seen.add(str(got.secret))
                assert got.expires_at is not None and got.expires_at > time.time()
            else:
                assert got == PENDING and not seen  # unavailable only before the first mint
            time.sleep(0.005)
        assert len(seen) >= 5, seen
        assert mints.reports[0] == ("github", True, "", False) and mints.reports[1][3] is True
    finally:
        refresher.stop()


def test_a_failed_mint_is_the_reason_until_a_retry_works() -> None:
    mints = Mints(lifetime=100)
    mints.failing = "GitHub did not accept the App's JWT"
    refresher = CredentialRefresher({"github": github_source()}, mints.mint, mints.report)
    try:
        assert wait_until(lambda: refresher.current("github") == "GitHub did not accept the App's JWT")
        mints.failing = ""
        # The first retry comes 1 s after the failure.
        assert wait_until(lambda: isinstance(refresher.current("github"), Minted), timeout=3)
        assert [r[1] for r in mints.reports] == [False, True]
    finally:
        refresher.stop()


def test_a_credential_that_expired_after_failed_refreshes_is_not_used() -> None:
    clock = Clock(1000.0)
    mints = Mints(lifetime=100)
    refresher = CredentialRefresher({"github": github_source()}, mints.mint, mints.report, clock=clock, refresh_at=10.0)
    try:
        assert wait_until(lambda: isinstance(refresher.current("github"), Minted))
        mints.failing = "down"
        clock.now = 1089.0
        assert isinstance(refresher.current("github"), Minted)
        # Its last tenth of life (10 s of 100): not sent, it could die on the way.
        clock.now = 1090.5
        assert refresher.current("github") == "it expired (or was about to) before a refresh"
    finally:
        refresher.stop()


@pytest.mark.parametrize("lifetime", [0.0, -5.0, -3600.0])
def test_a_credential_already_expired_when_minted_is_a_failure_retried_with_backoff(lifetime: float) -> None:
    # A token endpoint whose clock is behind ours (or an answer's expiry in the past): without
    # the check, its refresh is due at once, every time, and the refresher mints in a tight loop.
    mints = Mints(lifetime=lifetime)
    refresher = CredentialRefresher({"github": github_source()}, mints.mint, mints.report)
    try:
        assert wait_until(lambda: refresher.current("github") != PENDING)
        time.sleep(0.5)  # the first retry comes 1 s after the failure
        got = refresher.current("github")
        assert isinstance(got, str) and "already expired when minted" in got and "clock" in got, got
        assert len(mints.calls) == 1 and mints.reports == [("github", False, got, False)]
    finally:
        refresher.stop()


def test_a_credential_living_longer_than_a_short_lived_one_can_is_a_failure() -> None:
    # An answer's expiry years away (expires_in: 10**12) is no short-lived credential; its refresh
    # would be due past what a thread can wait for, and its log line past what a date can hold.
    mints = Mints(lifetime=10.0**12)
    refresher = CredentialRefresher({"github": github_source()}, mints.mint, mints.report)
    try:
        assert wait_until(lambda: bool(mints.reports))
        got = refresher.current("github")
        assert got == "the credential would live more than 48 hours: not a short-lived credential", got
        assert mints.reports == [("github", False, got, False)]
    finally:
        refresher.stop()


def test_a_reload_keeps_the_credential_of_an_unchanged_source_and_mints_a_changed_one() -> None:
    mints = Mints(lifetime=100)
    vertex = GoogleServiceAccountSource("vertex", "sa@p.example", "k", ("s",), "https://t.example/token")
    first = CredentialRefresher({"github": github_source(), "vertex": vertex}, mints.mint, mints.report)
    assert wait_until(lambda: len(mints.calls) == 2 and all(isinstance(first.current(n), Minted) for n in ("github", "vertex")))
    kept = first.current("vertex")
    second = CredentialRefresher(
        {"github": github_source(repositories=("acme/other",)), "vertex": vertex}, mints.mint, mints.report, previous=first
    )
    first.stop()
    try:
        assert second.current("vertex") is kept
        assert wait_until(lambda: len(mints.calls) == 3)
        assert sorted(name for name, _ in mints.calls[:2]) == ["github", "vertex"] and mints.calls[2][0] == "github"
        assert not wait_until(lambda: len(mints.calls) > 3, timeout=0.3)
    finally:
        second.stop()


def test_a_stopped_refresher_mints_no_more() -> None:
    mints = Mints(lifetime=0.1)
    refresher = CredentialRefresher({"github": github_source()}, mints.mint, mints.report)
    assert wait_until(lambda: len(mints.calls) >= 2)
    refresher.stop()
    count = len(mints.calls)
    time.sleep(0.3)
    assert len(mints.calls) <= count + 1  # at most one mint was under way


# --------------------------------------------------------------------------- log line, SigV4 queries


def test_the_credential_line_has_the_narrowing_and_never_the_value() -> None:
    source = github_source()
    line = json.loads(decision_log.credential_line(source, Minted("ghs_SECRET", 1_800_000_000.0, 0.0), "", True))
    assert line == {
        "event": "credential",
        "name": "github",
        "kind": "github_app",
        "outcome": "ok",
        "refresh": True,
        "expires_at": "2027-01-15T08:00:00Z",
        "repositories": ["acme/app", "acme/lib"],
        "permissions": {"contents": "write", "metadata": "read"},
    }
    failed = json.loads(decision_log.credential_line(source, None, "GitHub found no such installation", False))
    assert (failed["outcome"], failed["expires_at"], failed["error"]) == ("error", None, "GitHub found no such installation")


@pytest.mark.parametrize(
    "query,refused",
    [
        (None, False),
        ("", False),
        ("a=1&b=2", False),
        ("X-Amz-Signature=abc", True),
        ("x=1&x-amz-credential=AKID%2F2026", True),
        ("X%2DAmz%2DSignature=abc", True),
        ("X-Amz-Date=20260101T000000Z", False),
    ],
)
def test_a_presigned_query_is_recognised(query: str | None, refused: bool) -> None:
    assert presigned(query) is refused


@pytest.mark.parametrize(
    "host,expected", [("coder-egress", "bot-bottle-coder-egress"), ("a b/c" + "x" * 80, ("bot-bottle-a-b-c" + "x" * 80)[:64])]
)
def test_the_role_session_is_named_after_the_egress_proxy(host: str, expected: str) -> None:
    assert session_name(host) == expected


def test_mints_are_counted_and_the_expiry_follows_the_credential_in_use() -> None:
    metrics = EgressMetrics()
    metrics.minted("github", "github_app", time.time() + 100)
    metrics.mint_failed("github", "github_app")
    metrics.minted("bedrock", "aws", None)
    sample = metrics.registry.get_sample_value
    assert sample("bot_bottle_egress_credential_mints_total", {"credential": "github", "kind": "github_app", "outcome": "ok"}) == 1
    assert sample("bot_bottle_egress_credential_mints_total", {"credential": "github", "kind": "github_app", "outcome": "error"}) == 1
    assert 98 < (sample("bot_bottle_egress_credential_expiry_seconds", {"credential": "github"}) or 0) <= 100
    assert sample("bot_bottle_egress_credential_expiry_seconds", {"credential": "bedrock"}) is None  # static keys do not expire
    metrics.credentials_in_use(["bedrock"])
    assert sample("bot_bottle_egress_credential_expiry_seconds", {"credential": "github"}) is None
