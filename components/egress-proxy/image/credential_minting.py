"""Minting one short-lived credential from its source: the request each kind sends (through
the MintClient: pipelock) and what its answer gives.

Pure: no mitmproxy import; the clock and the client are passed in.
"""

import datetime
import re
import socket

import aws_sts
import github_app
import google_service_account
from credential_errors import CredentialError
from credential_sources import AwsSource, GithubAppSource, Minted, Source
from mint_client import MintClient

# STS's RoleSessionName: at most 64 of these characters.
SESSION_NAME_OTHER_CHARS = re.compile(r"[^\w+=,.@-]")


def session_name(host_name: str) -> str:
    """The role session's name, as CloudTrail shows it: bot-bottle-<this egress proxy's host name>."""
    return ("bot-bottle-" + SESSION_NAME_OTHER_CHARS.sub("-", host_name))[:64]


def mint(source: Source, client: MintClient, now: float) -> Minted:
    """A fresh credential from `source` at `now` (epoch seconds); CredentialError saying why not."""
    if isinstance(source, GithubAppSource):
        url, headers, body = github_app.token_request(source, now)
        answer = client.post(url, headers, body)
        return github_app.parse_token_answer(answer.status, answer.body, now)
    if isinstance(source, AwsSource):
        return _aws(source, client, now)
    url, headers, body = google_service_account.token_request(source, now)
    answer = client.post(url, headers, body)
    return google_service_account.parse_token_answer(answer.status, answer.body, now)


def _aws(source: AwsSource, client: MintClient, now: float) -> Minted:
    if not source.role_arn:
        return Minted(source.keys(), None, now)  # static keys: nothing to mint
    url, headers, body = aws_sts.assume_role_request(
        sts_url=source.sts_url,
        region=source.sts_region,
        role_arn=source.role_arn,
        session_name=session_name(socket.gethostname()),
        duration_seconds=source.session_seconds,
        credentials=source.keys(),
        now=datetime.datetime.fromtimestamp(now, datetime.UTC),
    )
    answer = client.post(url, headers, body)
    if answer.status != 200:
        try:
            aws_sts.parse_assume_role_response(answer.body)  # STS's error code and message, if it sent them
        except CredentialError as e:
            raise CredentialError(f"{e} (HTTP {answer.status})") from None
        raise CredentialError(f"STS answered HTTP {answer.status} without credentials")
    credentials = aws_sts.parse_assume_role_response(answer.body)
    return Minted(credentials, credentials.expires_at, now)
