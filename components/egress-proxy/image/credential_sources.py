"""Credential sources: the long-lived secrets routes.yaml's `credentials` section names, from
which the egress proxy mints the short-lived credentials its routes inject, and what a mint
gives back.

Pure: no mitmproxy import. A source's secret fields are repr=False (never in a log line or a
traceback); two sources compare equal exactly when a mint from either would ask for the same
thing with the same key (a reload keeps the credential of an unchanged source).
"""

from dataclasses import dataclass, field
from typing import ClassVar

from aws_sigv4 import AwsCredentials


@dataclass(frozen=True)
class GithubAppSource:
    """A GitHub App's installation: its token, narrowed to `repositories` (empty: every
    repository of the installation) and `permissions` ((name, read|write), sorted)."""

    kind: ClassVar[str] = "github_app"
    name: str
    app_id: str
    installation_id: str
    api_url: str  # no trailing slash
    private_key: str = field(repr=False)
    repositories: tuple[str, ...] = ()
    permissions: tuple[tuple[str, str], ...] = ()

    def narrowing(self) -> dict[str, object]:
        return {"repositories": list(self.repositories), "permissions": dict(self.permissions)}


@dataclass(frozen=True)
class AwsSource:
    """AWS keys: used as they are (no role_arn), or to assume `role_arn` with STS."""

    kind: ClassVar[str] = "aws"
    name: str
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    role_arn: str = ""
    sts_url: str = ""
    sts_region: str = ""
    session_seconds: int = 0

    def narrowing(self) -> dict[str, object]:
        return {"role": self.role_arn or None}

    def keys(self) -> AwsCredentials:
        return AwsCredentials(self.access_key_id, self.secret_access_key)


@dataclass(frozen=True)
class GoogleServiceAccountSource:
    """A Google service account's key: an OAuth access token for `scopes`."""

    kind: ClassVar[str] = "google_service_account"
    name: str
    client_email: str
    private_key: str = field(repr=False)
    scopes: tuple[str, ...] = ()
    token_url: str = ""

    def narrowing(self) -> dict[str, object]:
        return {"scopes": list(self.scopes)}


Source = GithubAppSource | AwsSource | GoogleServiceAccountSource
SOURCE_KINDS: tuple[type[Source], ...] = (GithubAppSource, AwsSource, GoogleServiceAccountSource)


@dataclass(frozen=True)
class Minted:
    """A short-lived credential: a bearer token, or AWS credentials to sign with; `expires_at`
    in epoch seconds (None: it does not expire, static AWS keys)."""

    secret: str | AwsCredentials = field(repr=False)
    expires_at: float | None
    minted_at: float = 0.0
