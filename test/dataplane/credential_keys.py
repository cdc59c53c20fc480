"""Test keys for the credential tests, made once per run, and an RS256 JWT check written with
`cryptography` alone (not PyJWT, which the addon signs with): what the fake token endpoints use
to verify what the egress proxy sends them.
"""

import base64
import functools
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


@functools.cache
def rsa_key(label: str) -> rsa.RSAPrivateKey:
    """One RSA key per label for the whole run (2048 bits take a moment to make)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(label: str) -> str:
    return (
        rsa_key(label)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode("ascii")
    )


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_rs256(token: str, public_key: rsa.RSAPublicKey) -> dict[str, Any]:
    """The claims of an RS256 JWT whose signature `public_key` verifies (raises otherwise)."""
    header, claims, signature = token.split(".")
    assert json.loads(_b64url(header)) == {"alg": "RS256", "typ": "JWT"}
    public_key.verify(_b64url(signature), f"{header}.{claims}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    decoded: dict[str, Any] = json.loads(_b64url(claims))
    return decoded


def google_key_file(label: str, email: str) -> str:
    """A service account's JSON key file, as Google hands it out (the fields the proxy reads, and others)."""
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "bot-bottle-test",
            "private_key_id": "0123456789abcdef",
            "private_key": private_pem(label),
            "client_email": email,
            "token_uri": "https://oauth2.example.com/ignored",
        }
    )
