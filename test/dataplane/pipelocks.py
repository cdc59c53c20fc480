"""The real pipelock on loopback, for the data-plane tests of the two lanes (test_lanes.py).

pipelock's binary comes from PIPELOCK_BINARY (scripts/test builds it from PIPELOCK_SOURCE with
scripts/pipelock/build-binary; scripts/egress-proxy/test-image mounts it into the test image).
Without it those tests skip, saying so, unless BOTTLE_PIPELOCK=required (CI) makes that a
failure. Two processes, as in a bottle: `pipelock` intercepting TLS with its own CA, and
`pipelock-bulk` passing tunnels through, with its scan API. Their configs carry the settings
the program renders that bear on these tests (strict, enforcing, blocking body and header
DLP); the end-to-end tier runs the program's own rendering.
"""

import datetime
import json
import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import stop_process

LOOPBACK = "127.0.0.1"
SCAN_API_CLIENT = "egress-proxy"


def pipelock_binary() -> str:
    path = os.environ.get("PIPELOCK_BINARY", "")
    if path and os.access(path, os.X_OK):
        return path
    why = f"PIPELOCK_BINARY={path!r} is not an executable" if path else "PIPELOCK_BINARY is not set"
    if os.environ.get("BOTTLE_PIPELOCK") == "required":
        pytest.fail(f"{why}, and BOTTLE_PIPELOCK=required (scripts/test sets it from PIPELOCK_SOURCE)")
    pytest.skip(f"{why}: the lanes run against the real pipelock (set PIPELOCK_SOURCE for scripts/test)")


def make_pipelock_ca(directory: Path) -> tuple[Path, Path]:
    """A CA as the program makes pipelock's: ECDSA P-256, SEC1 key (owner-only), SHA-1 key id."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bot-bottle dataplane pipelock CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "pipelock-ca.pem", directory / "pipelock-ca-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def base_config(hosts: list[str], port: int) -> dict[str, Any]:
    """What both pipelocks share: strict, enforcing, blocking body and header DLP, the hosts
    allowed (and trusted to resolve to loopback, as the test upstreams do)."""
    return {
        "version": 1,
        "mode": "strict",
        "enforce": True,
        "default_agent_identity": "dataplane",
        "api_allowlist": hosts,
        "trusted_domains": hosts,
        "fetch_proxy": {"listen": f"{LOOPBACK}:{port}", "monitoring": {"max_requests_per_minute": 100000}},
        "forward_proxy": {"enabled": True, "sni_verification": True, "max_tunnel_seconds": 3600},
        "dlp": {"include_defaults": True, "scan_env": True},
        "seed_phrase_detection": {"enabled": True, "min_words": 24},
        "request_body_scanning": {
            "enabled": True,
            "action": "block",
            "max_body_bytes": 33554432,
            "scan_headers": True,
            "header_mode": "sensitive",
            "sensitive_headers": ["Cookie", "X-Token", "Proxy-Authorization", "X-Goog-Api-Key"],
        },
        "logging": {"format": "json", "output": "stdout", "include_allowed": True, "include_blocked": True},
    }


def inspect_config(hosts: list[str], port: int, ca: tuple[Path, Path]) -> dict[str, Any]:
    return {**base_config(hosts, port), "tls_interception": {"enabled": True, "ca_cert": str(ca[0]), "ca_key": str(ca[1])}}


def bulk_config(hosts: list[str], port: int, scan_port: int) -> dict[str, Any]:
    return {
        **base_config(hosts, port),
        "tls_interception": {"enabled": False},
        "scan_api": {
            "listen": f"{LOOPBACK}:{scan_port}",
            "auth": {"bearer_tokens": [SCAN_API_CLIENT]},
            "rate_limit": {"requests_per_minute": 100000, "burst": 1000},
            "max_body_bytes": 6 * 5 * 1024 * 1024 + 65536,
            "field_limits": {"url": 8192, "text": 1048576, "content": 5 * 1024 * 1024},
            "timeouts": {"read": "10s", "write": "65s", "scan": "60s"},
            "kinds": {"url": True, "dlp": True, "prompt_injection": True, "tool_call": False},
        },
    }


@dataclass
class Pipelock:
    """One pipelock process on loopback."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def events(self, event: str, target: str) -> list[dict[str, Any]]:
        return [e for e in self.log() if e.get("event") == event and target in str(e.get("target", e.get("url", "")))]

    def stop(self) -> None:
        stop_process(self.process)


def start_pipelock(binary: str, config: dict[str, Any], workdir: Path, trust: Path) -> Pipelock:
    """Starts pipelock on `config` (checked first with `pipelock check`), trusting `trust` for
    the upstreams it dials; waits until its /health answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "pipelock.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    # A small environment: pipelock's DLP also looks for its own environment's values.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "SSL_CERT_FILE": str(trust)}
    check = subprocess.run([binary, "check", "--config", str(path)], env=env, capture_output=True, text=True, check=False)
    assert check.returncode == 0, f"pipelock check refused the test config:\n{check.stdout}{check.stderr}"
    log_path = workdir / "pipelock.log"
    port = int(config["fetch_proxy"]["listen"].rsplit(":", 1)[1])
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [binary, "run", "--config", str(path), "--listen", f"{LOOPBACK}:{port}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    pipelock = Pipelock(process, port, log_path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"pipelock exited {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/health", timeout=2) as answer:
                if answer.status == 200:
                    return pipelock
        except OSError:
            time.sleep(0.1)
    pipelock.stop()
    raise AssertionError(f"pipelock did not answer /health:\n{log_path.read_text(errors='replace')}")
