"""TLS on the upstream leg: a connection that cannot handshake (how a hook refuses one), and,
on the inspect lane, the check that the server is pipelock's interception: a chain through
pipelock's CA.
"""

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from mitmproxy import ctx, tls
from OpenSSL import SSL, crypto


def refusing_tls() -> SSL.Connection:
    """A TLS connection whose handshake cannot start (no client or server role is set), so
    mitmproxy closes the connection. Returning no connection does not refuse: mitmproxy's
    own TLS addon runs after this one and fills in a working one."""
    return SSL.Connection(SSL.Context(SSL.TLS_METHOD))


def ca_fingerprint(path: str) -> bytes:
    """The sha256 of the PEM certificate at `path`. Raises OSError or ValueError."""
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read()).fingerprint(hashes.SHA256())


def require_chain_through(data: tls.TlsData, ca: bytes) -> None:
    """Have mitmproxy build the connection (its trust store holds pipelock's CA and, for the
    bulk lane, public roots), then accept only a chain through the CA whose fingerprint is
    `ca`: a request meant for pipelock's reading must never reach a server it did not
    intercept."""
    ctx.master.addons.get("tlsconfig").tls_start_server(data)
    if data.ssl_conn is None:
        return
    anchored = False

    def verify(_conn: SSL.Connection, cert: crypto.X509, _errno: int, depth: int, ok: int) -> bool:
        nonlocal anchored
        if depth > 0 and cert.to_cryptography().fingerprint(hashes.SHA256()) == ca:
            anchored = True
        return bool(ok) and (depth > 0 or anchored)

    data.ssl_conn.set_verify(SSL.VERIFY_PEER, verify)
