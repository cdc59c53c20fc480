"""The one error every credential source raises (GitHub App, AWS, Google): its message is what
the addon logs and answers an agent with (`credential NAME not available: <message>`), so it is
one bounded line that never carries a secret.

Pure: no mitmproxy import.
"""

# A reason longer than this is cut: it goes into a log line and a 503 body.
REASON_LIMIT = 200


class CredentialError(Exception):
    """A credential could not be minted or parsed. Raise it only with text that may be logged:
    never a key, a secret, a token or an answer's body quoted whole."""


def bounded_reason(text: str, limit: int = REASON_LIMIT) -> str:
    """`text` as one printable-ASCII line of at most `limit` characters: an upstream's own words
    (an error message from a token endpoint) quoted without letting it forge log lines or grow
    without end."""
    line = " ".join("".join(c if " " <= c <= "~" else " " for c in text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
