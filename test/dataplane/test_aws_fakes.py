"""The end-to-end upstream's fake AWS endpoints (test/e2e/images/upstream/aws_fakes.py): the fake
STS issues session credentials only to a request botocore verifies, the fake Bedrock runtime
answers only requests signed with the long-lived key or an unexpired issued session, and its
event stream is what botocore's own event stream parser reads."""

import base64
import datetime
import hashlib
import json
import sys
import time
from collections.abc import Iterator

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from aws_sigv4 import AwsCredentials, sigv4_headers
from aws_sts import assume_role_request, parse_assume_role_response
from conftest import REPO
from credential_errors import CredentialError

sys.path.insert(0, str(REPO / "test" / "e2e" / "images" / "upstream"))
from aws_fakes import ANSWER_PIECES, Answer, AwsFakes, anthropic_events, eventstream_message

LONG_LIVED = AwsCredentials("AKIAE2ELONGLIVED", "e2e/long+lived0123456789ABCDEFGHIJKLMNOPQ")
STS_HOST = "sts.upstream.test"
BEDROCK_HOST = "bedrock-runtime.upstream.test"
ROLE = "arn:aws:iam::123456789012:role/bedrock-agent"
MODEL_PATH = "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke"
START = 1_796_590_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def datetime(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.now, datetime.UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fakes(clock: Clock) -> AwsFakes:
    return AwsFakes({LONG_LIVED.access_key_id: LONG_LIVED.secret_access_key}, session_seconds=60, stream_interval=0.05, clock=clock)


def body_bytes(body: bytes | Iterator[bytes]) -> bytes:
    return body if isinstance(body, bytes) else b"".join(body)


def assume_role_answer(fakes: AwsFakes, clock: Clock, credentials: AwsCredentials = LONG_LIVED, arrives_after: float = 0) -> Answer:
    url, headers, body = assume_role_request(
        sts_url=f"https://{STS_HOST}",
        region="us-east-1",
        role_arn=ROLE,
        session_name="bot-bottle-coder",
        duration_seconds=3600,
        credentials=credentials,
        now=clock.datetime(),
    )
    assert url == f"https://{STS_HOST}/"
    clock.now += arrives_after
    return fakes.handle(method="POST", host=STS_HOST, path="/", query="", headers=headers, body=body)


def assume_role(fakes: AwsFakes, clock: Clock, credentials: AwsCredentials = LONG_LIVED) -> tuple[int, bytes]:
    answer = assume_role_answer(fakes, clock, credentials)
    return answer.status, body_bytes(answer.body)


def send_signed(
    fakes: AwsFakes, clock: Clock, credentials: AwsCredentials, *, host: str, path: str, service: str, body: bytes, drop: str = ""
) -> Answer:
    """A POST signed now by aws_sigv4 (less the header named `drop`), handed to the fakes."""
    added = sigv4_headers(
        method="POST",
        host=host,
        path=path,
        query="",
        body_sha256=hashlib.sha256(body).hexdigest(),
        region="us-east-1",
        service=service,
        credentials=credentials,
        now=clock.datetime(),
    )
    headers = [(name, value) for name, value in [("Host", host), *added] if name != drop]
    return fakes.handle(method="POST", host=host, path=path, query="", headers=headers, body=body)


def invoke_answer(fakes: AwsFakes, clock: Clock, credentials: AwsCredentials, path: str = MODEL_PATH, drop: str = "") -> Answer:
    body = json.dumps(
        {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    return send_signed(fakes, clock, credentials, host=BEDROCK_HOST, path=path, service="bedrock", body=body, drop=drop)


def invoke(
    fakes: AwsFakes, clock: Clock, credentials: AwsCredentials, path: str = MODEL_PATH, drop: str = ""
) -> tuple[int, list[tuple[str, str]], bytes]:
    answer = invoke_answer(fakes, clock, credentials, path, drop)
    return answer.status, answer.headers, body_bytes(answer.body)


def test_sts_issues_session_credentials_to_a_verified_assume_role(fakes: AwsFakes, clock: Clock) -> None:
    status, body = assume_role(fakes, clock)
    assert status == 200
    session = parse_assume_role_response(body)
    [issued] = fakes.issued
    assert session == AwsCredentials(issued.access_key_id, issued.secret_access_key, issued.session_token, START + 60)
    assert issued.access_key_id.startswith("ASIA") and len(issued.access_key_id) == 20
    assert (issued.role_arn, issued.session_name, issued.duration_seconds) == (ROLE, "bot-bottle-coder", 3600)
    assert fakes.records == [
        {
            "fake": "sts",
            "outcome": "issued",
            "signed_by": LONG_LIVED.access_key_id,
            "access_key_id": issued.access_key_id,
            "expires_at": START + 60,
            "role_arn": ROLE,
            "session_name": "bot-bottle-coder",
            "duration_seconds": 3600,
        }
    ]
    # Each AssumeRole gets fresh credentials.
    assume_role(fakes, clock)
    assert len({(s.access_key_id, s.secret_access_key, s.session_token) for s in fakes.issued}) == 2


SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
)


@pytest.mark.parametrize(
    "credentials,status,message",
    [
        (
            AwsCredentials(LONG_LIVED.access_key_id, "not/the+secret0123456789ABCDEFGHIJKLMNOP"),
            403,
            f"STS refused AssumeRole: SignatureDoesNotMatch: {SIGNATURE_MISMATCH}",
        ),
        (
            AwsCredentials("AKIAE2EUNKNOWN", LONG_LIVED.secret_access_key),
            403,
            "STS refused AssumeRole: InvalidClientTokenId: The security token included in the request is invalid.",
        ),
    ],
)
def test_sts_refuses_a_bad_signature_with_aws_error_response(
    fakes: AwsFakes, clock: Clock, credentials: AwsCredentials, status: int, message: str
) -> None:
    got_status, body = assume_role(fakes, clock, credentials)
    assert got_status == status
    with pytest.raises(CredentialError) as refused:
        parse_assume_role_response(body)
    assert str(refused.value) == message
    assert fakes.issued == []


def test_sts_refuses_a_request_signed_long_ago(fakes: AwsFakes, clock: Clock) -> None:
    answer = assume_role_answer(fakes, clock, arrives_after=301)
    assert answer.status == 403
    assert answer.record == {"fake": "sts", "outcome": "SignatureDoesNotMatch"}
    with pytest.raises(CredentialError) as refused:
        parse_assume_role_response(body_bytes(answer.body))
    assert str(refused.value) == (
        "STS refused AssumeRole: SignatureDoesNotMatch: Signature expired: 20261206T204640Z is more than 5 minutes away from the server's time"
    )


@pytest.mark.parametrize(
    "form,code",
    [
        (b"Action=GetCallerIdentity&Version=2011-06-15", "InvalidAction"),
        (b"Action=AssumeRole&Version=2011-06-15&RoleArn=bedrock-agent&RoleSessionName=s1", "ValidationError"),
        (b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr&RoleSessionName=s1&DurationSeconds=60", "ValidationError"),
    ],
)  # fmt: skip
def test_sts_refuses_other_actions_and_invalid_parameters(fakes: AwsFakes, clock: Clock, form: bytes, code: str) -> None:
    answer = send_signed(fakes, clock, LONG_LIVED, host=STS_HOST, path="/", service="sts", body=form)
    assert (answer.status, answer.record) == (400, {"fake": "sts", "outcome": code})
    with pytest.raises(CredentialError, match=f"^STS refused AssumeRole: {code}: "):
        parse_assume_role_response(body_bytes(answer.body))


def test_session_lifetime_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPSTREAM_AWS_SESSION_SECONDS", raising=False)
    assert AwsFakes({}).session_seconds == 900
    monkeypatch.setenv("UPSTREAM_AWS_SESSION_SECONDS", "20")
    assert AwsFakes({}).session_seconds == 20


def test_bedrock_answers_the_long_lived_key(fakes: AwsFakes, clock: Clock) -> None:
    status, headers, body = invoke(fakes, clock, LONG_LIVED)
    assert (status, dict(headers)["Content-Type"]) == (200, "application/json")
    assert json.loads(body) == {
        "id": "msg_bdrk_e2e",
        "type": "message",
        "role": "assistant",
        "model": "anthropic.claude-3-5-sonnet-20241022-v2:0",
        "content": [{"type": "text", "text": "Hello from the bottled Bedrock."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 5},
    }
    assert fakes.records == [
        {
            "fake": "bedrock",
            "path": MODEL_PATH,
            "access_key_id": LONG_LIVED.access_key_id,
            "session": False,
            "expires_at": None,
            "signed_headers": ["host", "x-amz-content-sha256", "x-amz-date"],
            "outcome": "answered",
            "model": "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "stream": False,
        }
    ]


def test_bedrock_answers_an_issued_session_until_it_expires(fakes: AwsFakes, clock: Clock) -> None:
    session = parse_assume_role_response(assume_role(fakes, clock)[1])
    clock.now += 59
    assert invoke(fakes, clock, session)[0] == 200
    assert fakes.records[-1]["session"] is True
    assert fakes.records[-1]["expires_at"] == START + 60
    assert fakes.records[-1]["signed_headers"] == ["host", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"]
    clock.now += 1
    status, headers, body = invoke(fakes, clock, session)
    assert (status, dict(headers)["x-amzn-ErrorType"]) == (403, "ExpiredTokenException")
    assert json.loads(body) == {"message": "The security token included in the request is expired"}
    assert fakes.records[-1]["outcome"] == "ExpiredTokenException"


def test_bedrock_refuses_what_aws_refuses(fakes: AwsFakes, clock: Clock) -> None:
    session = parse_assume_role_response(assume_role(fakes, clock)[1])
    cases = [
        (invoke(fakes, clock, AwsCredentials(LONG_LIVED.access_key_id, "wrong/secret0123456789ABCDEFGHIJKLMNOPQR")), "InvalidSignatureException"),
        (invoke(fakes, clock, AwsCredentials("AKIAE2EUNKNOWN", LONG_LIVED.secret_access_key)), "UnrecognizedClientException"),
        (invoke(fakes, clock, session, drop="X-Amz-Security-Token"), "UnrecognizedClientException"),
        (invoke(fakes, clock, AwsCredentials(session.access_key_id, session.secret_access_key, "forged-token")), "UnrecognizedClientException"),
    ]  # fmt: skip
    messages = {
        "InvalidSignatureException": SIGNATURE_MISMATCH,
        "UnrecognizedClientException": "The security token included in the request is invalid.",
    }
    for (status, headers, body), error_type in cases:
        assert (status, dict(headers)["x-amzn-ErrorType"]) == (403, error_type)
        assert json.loads(body) == {"message": messages[error_type]}


def test_bedrock_refuses_unknown_operations(fakes: AwsFakes, clock: Clock) -> None:
    status, headers, _ = invoke(fakes, clock, LONG_LIVED, path="/model/m/converse")
    assert (status, dict(headers)["x-amzn-ErrorType"]) == (404, "UnknownOperationException")


def test_bedrock_stream_is_an_aws_event_stream_botocore_reads(fakes: AwsFakes, clock: Clock) -> None:
    status, headers, stream = invoke(fakes, clock, LONG_LIVED, path=MODEL_PATH + "-with-response-stream")
    assert (status, dict(headers)["Content-Type"]) == (200, "application/vnd.amazon.eventstream")
    buffer = EventStreamBuffer()
    buffer.add_data(stream)
    messages = list(buffer)
    assert [m.headers for m in messages] == [{":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}] * len(
        messages
    )
    events = [json.loads(base64.b64decode(json.loads(m.payload)["bytes"])) for m in messages]
    assert events == anthropic_events("anthropic.claude-3-5-sonnet-20241022-v2:0")
    assert [e["type"] for e in events] == ["message_start", "content_block_start"] + ["content_block_delta"] * 5 + [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta") == "".join(ANSWER_PIECES)
    assert fakes.records[-1]["stream"] is True


def test_bedrock_stream_is_spread_over_time(fakes: AwsFakes, clock: Clock) -> None:
    session = parse_assume_role_response(assume_role(fakes, clock)[1])
    answer = invoke_answer(fakes, clock, session, path=MODEL_PATH + "-with-response-stream")
    assert not isinstance(answer.body, bytes)
    arrivals = []
    for _ in answer.body:
        arrivals.append(time.monotonic())
    assert len(arrivals) == 10
    assert arrivals[-1] - arrivals[0] >= 9 * 0.05


def test_eventstream_crcs_are_checked_by_botocore() -> None:
    message = bytearray(eventstream_message([(":event-type", "chunk")], b'{"bytes":"e30="}'))
    buffer = EventStreamBuffer()
    buffer.add_data(bytes(message))
    [parsed] = list(buffer)
    assert (parsed.headers, parsed.payload, parsed.prelude.total_length) == ({":event-type": "chunk"}, b'{"bytes":"e30="}', len(message))
    message[-6] ^= 1  # a payload byte: the message CRC no longer matches
    corrupted = EventStreamBuffer()
    corrupted.add_data(bytes(message))
    with pytest.raises(ChecksumMismatch):
        list(corrupted)


@pytest.mark.parametrize(
    "host,handled",
    [("sts.upstream.test", True), ("bedrock-runtime.upstream.test", True), ("upstream.test", False), ("api.upstream.test", False), ("ests.upstream.test", False)],
)  # fmt: skip
def test_handles_only_the_aws_hosts(host: str, handled: bool) -> None:
    assert AwsFakes.handles(host) is handled


def test_records_never_hold_a_secret(fakes: AwsFakes, clock: Clock) -> None:
    session = parse_assume_role_response(assume_role(fakes, clock)[1])
    invoke(fakes, clock, session)
    invoke(fakes, clock, LONG_LIVED)
    invoke(fakes, clock, AwsCredentials(LONG_LIVED.access_key_id, "wrong/secret0123456789ABCDEFGHIJKLMNOPQR"))
    logged = json.dumps(fakes.records)
    for secret in (LONG_LIVED.secret_access_key, session.secret_access_key, session.session_token):
        assert secret not in logged
    assert [r["outcome"] for r in fakes.records] == ["issued", "answered", "answered", "InvalidSignatureException"]


def test_sts_error_quoting_the_client_stays_xml(fakes: AwsFakes) -> None:
    headers = [("Host", STS_HOST), ("Authorization", "AWS4-HMAC-SHA256 <x&y"), ("X-Amz-Date", "20261206T204640Z")]
    answer = fakes.handle(method="POST", host=STS_HOST, path="/", query="", headers=headers, body=b"")
    assert answer.status == 403
    with pytest.raises(CredentialError) as refused:
        parse_assume_role_response(body_bytes(answer.body))
    assert (
        str(refused.value) == "STS refused AssumeRole: IncompleteSignature: Authorization header component '<x&y' is malformed or repeated"
    )
