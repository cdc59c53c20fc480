"""How a token endpoint's answer is read when minting: as a JSON object if it is one, a token
that can travel in a header, and the provider's own words about a refusal, bounded to one line.

Pure: stdlib only.
"""

import json
from typing import Any

# A provider's message in a log line or a 503 is cut here.
MAX_DETAIL_CHARS = 200


def json_object(body: bytes) -> dict[str, Any] | None:
    """The answer as a JSON object, or None if it is not one."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeError):
        return None
    return value if isinstance(value, dict) else None


def bounded(text: object) -> str:
    """A provider's error code or message as one printable ASCII line of at most
    MAX_DETAIL_CHARS ("" when it is not a string)."""
    if not isinstance(text, str):
        return ""
    line = "".join(c if " " <= c <= "~" else " " for c in text).strip()
    return line if len(line) <= MAX_DETAIL_CHARS else line[: MAX_DETAIL_CHARS - 3] + "..."


def token_chars(token: str) -> bool:
    """Whether a minted token can go into a header as it is: printable ASCII, no spaces."""
    return all("!" <= c <= "~" for c in token)
