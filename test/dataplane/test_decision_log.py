"""The decision log's rendering of a refusal for clients that show only a status line (pure)."""

import pytest

from decision_log import REASON_PHRASE_MAX_CHARS, refusal_reason_phrase


@pytest.mark.parametrize(
    ("standard", "message", "phrase"),
    [
        ("Forbidden", "egress-proxy: host not in allowlist: x.example", "Forbidden (egress-proxy: host not in allowlist: x.example)"),
        ("Too Many Requests", "egress-proxy: rate limited for a.example", "Too Many Requests (egress-proxy: rate limited for a.example)"),
        # Never a byte a status line cannot carry: control characters and non-ASCII escaped.
        ("Forbidden", "pipelock: blocked: a\x1bb\tc", "Forbidden (pipelock: blocked: a\\x1bb\\x09c)"),
        (
            "Forbidden",
            "egress-proxy: host not in allowlist: bücher.example",
            "Forbidden (egress-proxy: host not in allowlist: b\\xfccher.example)",
        ),
        # Cut, still closed, at the bound.
        ("Forbidden", "x" * 600, "Forbidden (" + "x" * (REASON_PHRASE_MAX_CHARS - 15) + "...)"),
    ],
)
def test_a_refusals_reason_phrase_carries_its_line(standard: str, message: str, phrase: str) -> None:
    assert refusal_reason_phrase(standard, message) == phrase
    assert len(phrase) <= REASON_PHRASE_MAX_CHARS
