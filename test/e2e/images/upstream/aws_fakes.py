"""TEST upstream: AWS-shaped fake endpoints that check SigV4 the way AWS does (botocore's signer,
through sigv4_verify.py: never the egress proxy's own code) and record what they saw.

  sts.*              POST / Action=AssumeRole (form, Version 2011-06-15): verifies the signature
                     (service sts) against the test's long-lived key; answers AssumeRoleResult with
                     fresh session credentials (ASIA... id, random secret and session token) that
                     expire UPSTREAM_AWS_SESSION_SECONDS (default 900) from now; AWS's XML
                     ErrorResponse otherwise (403 SignatureDoesNotMatch, 400 ValidationError, ...)
  bedrock-runtime.*  POST /model/<modelId>/invoke: an Anthropic Messages answer (JSON), and
                     POST /model/<modelId>/invoke-with-response-stream: the same answer as an
                     application/vnd.amazon.eventstream of chunks spread over time; each request
                     verified (service bedrock) against the long-lived key or an unexpired
                     issued session (with its X-Amz-Security-Token); AWS's JSON errors otherwise
                     (403 InvalidSignatureException, ExpiredTokenException, ...)

How server.py uses it (no HTTP server here):

    fakes = AwsFakes({"AKIA...": "<secret>"}, region="us-east-1")   # once, at start
    if fakes.handles(host):
        answer = fakes.handle(method=..., host=..., path=..., query=..., headers=[(name, value), ...], body=b"...")
        # answer.status, answer.headers; answer.body is bytes, or an iterator of bytes to send
        # as they come (chunked, flushed after each piece); answer.record is a JSON-ready dict
        # of what the fake decided (never a secret), for the request log.

path and query are raw (as received, percent-encoded; query without '?'). Needs sigv4_verify.py
(test/dataplane/, copied beside this file into the image) and botocore (Debian's python3-botocore).
"""

import base64
import datetime
import json
import os
import re
import secrets
import struct
import threading
import time
import urllib.parse
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from sigv4_verify import SigningKey, SigV4Rejected, verify_sigv4

STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
INVOKE_PATH = re.compile(r"/model/([^/]+)/(invoke|invoke-with-response-stream)")
# What the fake model answers, whatever it is asked; streamed in these pieces.
ANSWER_PIECES = ["Hello ", "from ", "the ", "bottled ", "Bedrock."]
EVENTSTREAM = "application/vnd.amazon.eventstream"
# The error types a JSON service (Bedrock) gives for the codes sigv4_verify reports.
BEDROCK_ERROR_TYPES = {
    "SignatureDoesNotMatch": "InvalidSignatureException",
    "IncompleteSignature": "IncompleteSignatureException",
    "MissingAuthenticationToken": "MissingAuthenticationTokenException",
    "UnrecognizedClientException": "UnrecognizedClientException",
}


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes | Iterator[bytes]  # an iterator: send each piece as it comes
    record: dict[str, Any]


@dataclass(frozen=True)
class IssuedSession:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expires_at: float
    role_arn: str
    session_name: str
    duration_seconds: int  # what the request asked for; the fake's own lifetime applies


def eventstream_message(headers: Sequence[tuple[str, str]], payload: bytes) -> bytes:
    """One message of AWS's event stream framing: prelude (total and headers length, CRC32),
    string-typed headers, payload, CRC32 of all before it."""
    encoded = b"".join(
        struct.pack("!B", len(name)) + name.encode() + struct.pack("!BH", 7, len(value.encode())) + value.encode()
        for name, value in headers
    )
    prelude = struct.pack("!II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack("!I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack("!I", zlib.crc32(message))


def anthropic_message(model: str, *, done: bool) -> dict[str, Any]:
    """The fake answer in the Anthropic Messages shape Bedrock returns: whole (done), or as the
    message_start of a stream carries it (no content yet)."""
    return {
        "id": "msg_bdrk_e2e", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": "".join(ANSWER_PIECES)}] if done else [],
        "stop_reason": "end_turn" if done else None, "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": len(ANSWER_PIECES) if done else 1},
    }  # fmt: skip


def anthropic_events(model: str) -> list[dict[str, Any]]:
    """The Anthropic streaming events of the fake answer, as Bedrock relays them."""
    deltas = [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}} for piece in ANSWER_PIECES]
    return [
        {"type": "message_start", "message": anthropic_message(model, done=False)},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *deltas,
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": len(ANSWER_PIECES)}},
        {
            "type": "message_stop",
            "amazon-bedrock-invocationMetrics": {"inputTokenCount": 12, "outputTokenCount": len(ANSWER_PIECES), "invocationLatency": 1, "firstByteLatency": 1},
        },
    ]  # fmt: skip


def chunk_message(event: Mapping[str, Any]) -> bytes:
    payload = json.dumps({"bytes": base64.b64encode(json.dumps(event).encode()).decode()}).encode()
    return eventstream_message([(":event-type", "chunk"), (":content-type", "application/json"), (":message-type", "event")], payload)


def sts_error(status: int, code: str, message: str) -> Answer:
    # The message may quote what the client sent: escaped, it cannot break the XML.
    body = (
        f'<ErrorResponse xmlns="{STS_NAMESPACE}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    return Answer(status, [("Content-Type", "text/xml")], body, {"fake": "sts", "outcome": code})


def bedrock_error(status: int, error_type: str, message: str, record: dict[str, Any]) -> Answer:
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type), ("x-amzn-RequestId", str(uuid.uuid4()))]
    return Answer(status, headers, json.dumps({"message": message}).encode(), {**record, "outcome": error_type})


class AwsFakes:
    """The fake STS and Bedrock runtime of one test upstream, with what they issued and saw."""

    def __init__(
        self,
        long_lived: Mapping[str, str],
        *,
        region: str = "us-east-1",
        session_seconds: int | None = None,
        stream_interval: float = 0.2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.long_lived = {key_id: SigningKey(secret) for key_id, secret in long_lived.items()}
        self.region = region
        self.session_seconds = (
            session_seconds if session_seconds is not None else int(os.environ.get("UPSTREAM_AWS_SESSION_SECONDS", "900"))
        )
        self.stream_interval = stream_interval
        self.clock = clock
        self.issued: list[IssuedSession] = []
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @staticmethod
    def handles(host: str) -> bool:
        return host.split(".", 1)[0] in ("sts", "bedrock-runtime")

    def handle(self, *, method: str, host: str, path: str, query: str, headers: Sequence[tuple[str, str]], body: bytes) -> Answer:
        url = f"https://{host}{path}" + (f"?{query}" if query else "")
        if host.split(".", 1)[0] == "sts":
            answer = self._sts(method, url, path, headers, body)
        else:
            answer = self._bedrock(method, url, path, headers, body)
        with self._lock:
            self.records.append(answer.record)
        return answer

    def _now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.clock(), datetime.UTC)

    def _sts(self, method: str, url: str, path: str, headers: Sequence[tuple[str, str]], body: bytes) -> Answer:
        if method != "POST" or path != "/":
            return sts_error(404, "UnknownOperationException", "The fake STS answers POST / only")
        try:
            verified = verify_sigv4(
                method=method, url=url, headers=headers, body=body, keys=self.long_lived, region=self.region, service="sts", now=self._now()
            )
        except SigV4Rejected as rejected:
            code = "InvalidClientTokenId" if rejected.code == "UnrecognizedClientException" else rejected.code
            return sts_error(403, code, rejected.message)
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("Action") != "AssumeRole" or form.get("Version") != "2011-06-15":
            return sts_error(400, "InvalidAction", "The fake STS knows Action=AssumeRole, Version=2011-06-15 only")
        role_arn, session_name, duration = form.get("RoleArn", ""), form.get("RoleSessionName", ""), form.get("DurationSeconds", "3600")
        if not role_arn.startswith("arn:aws:iam::") or not re.fullmatch(r"[\w+=,.@-]{2,64}", session_name, re.ASCII):
            return sts_error(400, "ValidationError", "RoleArn or RoleSessionName failed to satisfy constraint")
        if not duration.isdigit() or not 900 <= int(duration) <= 43200:
            return sts_error(400, "ValidationError", "DurationSeconds must be 900..43200")
        session = IssuedSession(
            access_key_id="ASIA" + secrets.token_hex(8).upper(),
            secret_access_key=secrets.token_urlsafe(30),
            session_token=base64.b64encode(secrets.token_bytes(96)).decode(),
            expires_at=self.clock() + self.session_seconds,
            role_arn=role_arn,
            session_name=session_name,
            duration_seconds=int(duration),
        )
        with self._lock:
            self.issued.append(session)
        expiration = datetime.datetime.fromtimestamp(session.expires_at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assumed_arn = escape(role_arn.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/") + "/" + session_name)
        answer = (
            f'<AssumeRoleResponse xmlns="{STS_NAMESPACE}"><AssumeRoleResult>'
            f"<AssumedRoleUser><Arn>{assumed_arn}</Arn>"
            f"<AssumedRoleId>AROAFAKE:{session_name}</AssumedRoleId></AssumedRoleUser>"
            f"<Credentials><AccessKeyId>{session.access_key_id}</AccessKeyId><SecretAccessKey>{session.secret_access_key}</SecretAccessKey>"
            f"<SessionToken>{session.session_token}</SessionToken><Expiration>{expiration}</Expiration></Credentials>"
            f"</AssumeRoleResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></AssumeRoleResponse>"
        ).encode()
        record = {
            "fake": "sts",
            "outcome": "issued",
            "signed_by": verified.access_key_id,
            "access_key_id": session.access_key_id,
            "expires_at": session.expires_at,
            "role_arn": role_arn,
            "session_name": session_name,
            "duration_seconds": int(duration),
        }
        return Answer(200, [("Content-Type", "text/xml")], answer, record)

    def _bedrock_keys(self) -> tuple[dict[str, SigningKey], dict[str, IssuedSession]]:
        """(every key a request may be signed with, the issued sessions by key id)."""
        with self._lock:
            sessions = {session.access_key_id: session for session in self.issued}
        keys = {**self.long_lived, **{key_id: SigningKey(s.secret_access_key, s.session_token) for key_id, s in sessions.items()}}
        return keys, sessions

    def _bedrock(self, method: str, url: str, path: str, headers: Sequence[tuple[str, str]], body: bytes) -> Answer:
        record: dict[str, Any] = {"fake": "bedrock", "path": path}
        match = INVOKE_PATH.fullmatch(path)
        if method != "POST" or match is None:
            return bedrock_error(
                404, "UnknownOperationException", "The fake Bedrock runtime answers POST /model/<id>/invoke[-with-response-stream]", record
            )
        keys, sessions = self._bedrock_keys()
        try:
            verified = verify_sigv4(
                method=method, url=url, headers=headers, body=body, keys=keys, region=self.region, service="bedrock", now=self._now()
            )
        except SigV4Rejected as rejected:
            return bedrock_error(403, BEDROCK_ERROR_TYPES[rejected.code], rejected.message, record)
        session = sessions.get(verified.access_key_id)
        record.update(
            access_key_id=verified.access_key_id,
            session=verified.session,
            expires_at=session.expires_at if session else None,
            signed_headers=list(verified.signed_headers),
        )
        if session is not None and session.expires_at <= self.clock():
            return bedrock_error(403, "ExpiredTokenException", "The security token included in the request is expired", record)
        model = urllib.parse.unquote(match[1])
        record.update(outcome="answered", model=model, stream=match[2] != "invoke")
        if match[2] == "invoke":
            return Answer(200, [("Content-Type", "application/json")], json.dumps(anthropic_message(model, done=True)).encode(), record)
        return Answer(200, [("Content-Type", EVENTSTREAM)], self._stream(model), record)

    def _stream(self, model: str) -> Iterator[bytes]:
        events = anthropic_events(model)
        for index, event in enumerate(events):
            if index:
                time.sleep(self.stream_interval)  # spread over time: a gate that buffers shows
            yield chunk_message(event)
