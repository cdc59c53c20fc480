"""How a token endpoint's answer is read when minting: as a JSON object if it is one, a token
that can travel in a header, and the provider's own words about a refusal, bounded to one line.

Pure: stdlib only.
"""

import json
from typing import Any

from credential_errors import bounded_reason


def json_object(body: bytes) -> dict[str, Any] | None:
    """The answer as a JSON object, or None if it is not one."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeError):
        return None
    return value if isinstance(value, dict) else None


def provider_words(text: object) -> str:
    """A provider's error code or message as one bounded printable line ("" when it is not a string)."""
    return bounded_reason(text) if isinstance(text, str) else ""


def token_chars(token: str) -> bool:
    """Whether a minted token can go into a header as it is: printable ASCII, no spaces."""
    return all("!" <= c <= "~" for c in token)
