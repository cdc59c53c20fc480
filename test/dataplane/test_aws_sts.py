"""aws_sts.py: the AssumeRole request botocore accepts as validly signed for STS, and the parsing
of STS's answers (success, ErrorResponse, not XML, fields missing), each with its exact error."""

import datetime
import hashlib
import urllib.parse

import pytest

from aws_sigv4 import AwsCredentials
from aws_sts import assume_role_request, parse_assume_role_response
from credential_errors import CredentialError, bounded_reason
from sigv4_verify import SigningKey, SigV4Rejected, verify_sigv4

NOW = datetime.datetime(2026, 12, 6, 21, 30, 5, tzinfo=datetime.UTC)
LONG_LIVED = AwsCredentials("AKIAEXAMPLELONGLIVED", "long/lived+secret0123456789ABCDEFGHIJKLMN")
ROLE = "arn:aws:iam::123456789012:role/bedrock-agent"
KEYS = {LONG_LIVED.access_key_id: SigningKey(LONG_LIVED.secret_access_key)}


def request(sts_url: str = "https://sts.amazonaws.com", region: str = "us-east-1") -> tuple[str, list[tuple[str, str]], bytes]:
    return assume_role_request(
        sts_url=sts_url,
        region=region,
        role_arn=ROLE,
        session_name="bot-bottle-coder",
        duration_seconds=3600,
        credentials=LONG_LIVED,
        now=NOW,
    )


def test_assume_role_request_is_the_form_sts_expects() -> None:
    url, headers, body = request()
    assert url == "https://sts.amazonaws.com/"
    assert body == (
        b"Action=AssumeRole&DurationSeconds=3600&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fbedrock-agent"
        b"&RoleSessionName=bot-bottle-coder&Version=2011-06-15"
    )
    assert urllib.parse.parse_qs(body.decode()) == {
        "Action": ["AssumeRole"],
        "DurationSeconds": ["3600"],
        "RoleArn": [ROLE],
        "RoleSessionName": ["bot-bottle-coder"],
        "Version": ["2011-06-15"],
    }
    values = dict(headers)
    assert [name for name, _ in headers] == ["Host", "Content-Type", "Authorization", "X-Amz-Date", "X-Amz-Content-Sha256"]
    assert values["Host"] == "sts.amazonaws.com"
    assert values["Content-Type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert values["X-Amz-Content-Sha256"] == hashlib.sha256(body).hexdigest()
    assert values["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLELONGLIVED/20261206/us-east-1/sts/aws4_request, ")


@pytest.mark.parametrize(
    "sts_url,region,url",
    [
        ("https://sts.amazonaws.com", "us-east-1", "https://sts.amazonaws.com/"),
        ("https://sts.eu-west-1.amazonaws.com/", "eu-west-1", "https://sts.eu-west-1.amazonaws.com/"),
        ("https://sts.upstream.test:8443", "us-east-1", "https://sts.upstream.test:8443/"),
    ],
)
def test_botocore_verifies_the_assume_role_signature(sts_url: str, region: str, url: str) -> None:
    got_url, headers, body = request(sts_url, region)
    assert got_url == url
    verified = verify_sigv4(method="POST", url=url, headers=headers, body=body, keys=KEYS, region=region, service="sts", now=NOW)
    assert verified.access_key_id == LONG_LIVED.access_key_id
    assert verified.signed_headers == ("host", "x-amz-content-sha256", "x-amz-date")


def test_botocore_refuses_the_assume_role_request_for_another_region_or_a_wrong_key() -> None:
    url, headers, body = request()
    with pytest.raises(SigV4Rejected) as refused:
        verify_sigv4(method="POST", url=url, headers=headers, body=body, keys=KEYS, region="eu-west-1", service="sts", now=NOW)
    assert refused.value.code == "SignatureDoesNotMatch"
    wrong = {LONG_LIVED.access_key_id: SigningKey("another/secret0123456789ABCDEFGHIJKLMNOPQ")}
    with pytest.raises(SigV4Rejected) as refused:
        verify_sigv4(method="POST", url=url, headers=headers, body=body, keys=wrong, region="us-east-1", service="sts", now=NOW)
    assert refused.value.code == "SignatureDoesNotMatch"
    tampered = body.replace(b"DurationSeconds=3600", b"DurationSeconds=43200")
    with pytest.raises(SigV4Rejected):
        verify_sigv4(method="POST", url=url, headers=headers, body=tampered, keys=KEYS, region="us-east-1", service="sts", now=NOW)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"sts_url": "http://sts.amazonaws.com"}, "sts_url must be an https URL without userinfo, query or fragment"),
        ({"sts_url": "https://user@sts.amazonaws.com"}, "sts_url must be an https URL without userinfo, query or fragment"),
        ({"sts_url": "https://sts.amazonaws.com/?a=1"}, "sts_url must be an https URL without userinfo, query or fragment"),
        ({"role_arn": "bedrock-agent"}, "role_arn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)"),
        ({"session_name": "x"}, "session_name must be 2-64 of letters, digits and +=,.@_-"),
        ({"session_name": "bot bottle"}, "session_name must be 2-64 of letters, digits and +=,.@_-"),
        ({"duration_seconds": 899}, "duration_seconds must be 900..43200"),
        ({"duration_seconds": 43201}, "duration_seconds must be 900..43200"),
    ],
)
def test_assume_role_request_refuses_bad_arguments(change: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "sts_url": "https://sts.amazonaws.com",
        "region": "us-east-1",
        "role_arn": ROLE,
        "session_name": "bot-bottle-coder",
        "duration_seconds": 3600,
        "credentials": LONG_LIVED,
        "now": NOW,
    }
    arguments.update(change)
    with pytest.raises(ValueError) as refused:
        assume_role_request(**arguments)  # type: ignore[arg-type]
    assert str(refused.value) == message


SESSION_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
SESSION_TOKEN = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI="
CREDENTIALS_XML = (
    "<AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>"
    f"<SecretAccessKey>{SESSION_SECRET}</SecretAccessKey>"
    f"<SessionToken>{SESSION_TOKEN}</SessionToken>"
    "<Expiration>{expiration}</Expiration>"
)


def answer(credentials: str, expiration: str = "2026-12-06T22:30:05Z") -> bytes:
    # The shape of AWS's documented AssumeRole answer.
    return (
        '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n'
        "  <AssumeRoleResult>\n"
        "    <SourceIdentity>DevUser123</SourceIdentity>\n"
        "    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/bedrock-agent/bot-bottle-coder</Arn>"
        "<AssumedRoleId>ARO123EXAMPLE123:bot-bottle-coder</AssumedRoleId></AssumedRoleUser>\n"
        f"    <Credentials>{credentials.replace('{expiration}', expiration)}</Credentials>\n"
        "    <PackedPolicySize>6</PackedPolicySize>\n"
        "  </AssumeRoleResult>\n"
        "  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>\n"
        "</AssumeRoleResponse>\n"
    ).encode()


@pytest.mark.parametrize(
    "expiration,epoch",
    [
        ("2026-12-06T22:30:05Z", 1796596205.0),
        ("2026-12-06T22:30:05.359Z", 1796596205.359),
        ("2026-12-06T23:30:05+01:00", 1796596205.0),
    ],
)
def test_parse_assume_role_response_gives_the_session_credentials(expiration: str, epoch: float) -> None:
    credentials = parse_assume_role_response(answer(CREDENTIALS_XML, expiration))
    assert credentials == AwsCredentials("ASIAIOSFODNN7EXAMPLE", SESSION_SECRET, SESSION_TOKEN, epoch)


def error_response(code: str, message: str, namespace: bool = True) -> bytes:
    xmlns = ' xmlns="https://sts.amazonaws.com/doc/2011-06-15/"' if namespace else ""
    return (
        f"<ErrorResponse{xmlns}><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>4a1c8ccf-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    ).encode()


LONG_MESSAGE = "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:AssumeRole on resource: " + "x" * 300


@pytest.mark.parametrize(
    "body,message",
    [
        (
            error_response("AccessDenied", "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:AssumeRole"),
            "STS refused AssumeRole: AccessDenied: User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:AssumeRole",
        ),
        (
            error_response("SignatureDoesNotMatch", "The request signature we calculated does not match", namespace=False),
            "STS refused AssumeRole: SignatureDoesNotMatch: The request signature we calculated does not match",
        ),
        (
            error_response("InvalidClientTokenId", "The security token included in the request is invalid.\n\nForged: line"),
            "STS refused AssumeRole: InvalidClientTokenId: The security token included in the request is invalid. Forged: line",
        ),
        (error_response("Access Denied <x>", ""), "STS answer is not XML (mismatched tag: line 1, column 116)"),
        (error_response("Access-Denied!", ""), "STS refused AssumeRole: unknown error code: no message"),
        (error_response("ValidationError", LONG_MESSAGE), f"STS refused AssumeRole: ValidationError: {LONG_MESSAGE[:197]}..."),
        (b"", "STS answer is not XML (no element found: line 1, column 0)"),
        (b"<html><body>502 Bad Gateway</body></html>", "STS answer is not an AssumeRoleResponse (root element html)"),
        (b"{not xml", "STS answer is not XML (not well-formed (invalid token): line 1, column 0)"),
        (
            b"<AssumeRoleResponse><AssumeRoleResult/></AssumeRoleResponse>",
            "STS answer is not an AssumeRoleResponse (root element AssumeRoleResponse)",
        ),
        (
            answer(CREDENTIALS_XML).replace(b"Credentials>", b"Creds>"),
            "STS AssumeRole answer has no AssumeRoleResult/Credentials",
        ),
        (
            answer(CREDENTIALS_XML.replace(f"<SessionToken>{SESSION_TOKEN}</SessionToken>", "")),
            "STS AssumeRole answer has no Credentials/SessionToken",
        ),
        (
            answer(CREDENTIALS_XML.replace(f"<SecretAccessKey>{SESSION_SECRET}</SecretAccessKey>", "<SecretAccessKey> </SecretAccessKey>")),
            "STS AssumeRole answer has no Credentials/SecretAccessKey",
        ),
        (answer(CREDENTIALS_XML.replace("ASIAIOSFODNN7EXAMPLE", "")), "STS AssumeRole answer has no Credentials/AccessKeyId"),
        (
            answer(CREDENTIALS_XML.replace("<Expiration>{expiration}</Expiration>", "")),
            "STS AssumeRole answer has no Credentials/Expiration",
        ),
        (answer(CREDENTIALS_XML, "tomorrow"), "STS AssumeRole answer's Expiration is not an ISO 8601 time: tomorrow"),
        (answer(CREDENTIALS_XML, "2026-12-06T22:30:05"), "STS AssumeRole answer's Expiration has no time zone"),
        (
            answer(CREDENTIALS_XML.replace("ASIAIOSFODNN7EXAMPLE", "ASIA/IOSFODNN7")),
            "STS AssumeRole answer's credentials are malformed: AWS access key id must be 1-128 letters and digits",
        ),
        (
            answer(CREDENTIALS_XML.replace(SESSION_TOKEN, "token with spaces")),
            "STS AssumeRole answer's credentials are malformed: AWS session token must be printable ASCII without spaces",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><ErrorResponse>&a;</ErrorResponse>',
            "STS answer carries a DTD, which STS never sends",
        ),
        (b"<a>" + b"x" * 70000 + b"</a>", "STS answer is 70007 bytes, more than an AssumeRole answer's 65536"),
    ],
)
def test_parse_assume_role_response_errors(body: bytes, message: str) -> None:
    with pytest.raises(CredentialError) as refused:
        parse_assume_role_response(body)
    assert str(refused.value) == message
    # Whatever went wrong, the answer's secret and session token are never quoted.
    assert SESSION_SECRET not in str(refused.value)
    assert SESSION_TOKEN not in str(refused.value)


@pytest.mark.parametrize(
    "text,limit,bounded",
    [
        ("plain", 200, "plain"),
        ("two\nlines\r\n\tand  tabs", 200, "two lines and tabs"),
        ("\x1b[31mred\x1b[0m", 200, "[31mred [0m"),
        ("x" * 10, 8, "xxxxx..."),
        ("é unicode", 200, "unicode"),
    ],
)
def test_bounded_reason(text: str, limit: int, bounded: str) -> None:
    assert bounded_reason(text, limit) == bounded
