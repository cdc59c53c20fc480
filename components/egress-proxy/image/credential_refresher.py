"""The credentials a loaded route table mints: one thread per source mints at load, refreshes
at half the lifetime (retrying with backoff, 1 s doubling to 60 s), and swaps the result in
whole, so a request sees one credential or another, never a half-made state.

A reload starts a new refresher that keeps the credential of every unchanged source (no new
mint) and mints the changed ones; the old one stops. Pure: no mitmproxy import; the mint, the
report of each outcome and the clock are passed in.
"""

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from credential_errors import CredentialError
from credential_sources import Minted, Source
from decision_log import expiry_text

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0
# Refreshed once this fraction of its lifetime has passed.
REFRESH_AT = 0.5
PENDING = "the first mint is under way"
# A credential is not sent in its last tenth of life, nor its last 30 s: a request takes time to
# reach the upstream through pipelock, and must not arrive with a credential that died on the way.
USE_MARGIN_SECONDS = 30.0
USE_MARGIN_FRACTION = 0.1
# The longest a minted credential may live (an STS session's is 12 hours, a GitHub or Google token's 1).
MAX_LIFETIME_SECONDS = 48 * 3600


@dataclass(frozen=True)
class Current:
    """What a source has now: its credential (None: none yet), and the last mint's error ("": it
    worked). `tried`: a mint has ended since the refresher started (until then a request waits)."""

    minted: Minted | None
    error: str
    tried: bool


def refresh_due(minted: Minted, fraction: float = REFRESH_AT) -> float | None:
    """When a credential is refreshed (epoch seconds); None: never (it does not expire)."""
    if minted.expires_at is None:
        return None
    return minted.minted_at + (minted.expires_at - minted.minted_at) * fraction


def usable_until(minted: Minted) -> float | None:
    """Until when a credential is sent (epoch seconds); None: always (it does not expire)."""
    if minted.expires_at is None:
        return None
    lifetime = max(0.0, minted.expires_at - minted.minted_at)
    return minted.expires_at - min(USE_MARGIN_SECONDS, lifetime * USE_MARGIN_FRACTION)


def retry_delay(failures: int) -> float:
    """The wait after the `failures`-th mint failure in a row: 1 s, doubling, at most 60 s."""
    return min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2.0 ** min(failures - 1, 16))


def expiry_problem(minted: Minted, now: float) -> str:
    """Why a credential just minted cannot be used ("": it can): it expired already (its refresh
    would be due at once, every time: a mint loop; a clock behind the provider's is why), or it
    would live longer than any short-lived credential does (its refresh would be due past what a
    thread can wait for)."""
    if minted.expires_at is None:
        return ""
    if minted.expires_at <= now:
        return f"the credential was already expired when minted (at {expiry_text(minted.expires_at)}): is this machine's clock right?"
    if minted.expires_at - now > MAX_LIFETIME_SECONDS:
        return f"the credential would live more than {MAX_LIFETIME_SECONDS // 3600} hours: not a short-lived credential"
    return ""


class CredentialRefresher:
    def __init__(
        self,
        sources: Mapping[str, Source],
        mint: Callable[[Source, float], Minted],
        report: Callable[[Source, Minted | None, str, bool], None],
        clock: Callable[[], float] = time.time,
        refresh_at: float = REFRESH_AT,
        previous: "CredentialRefresher | None" = None,
    ) -> None:
        """`report(source, minted, error, refresh)` is called after every mint (from its thread);
        `previous`: the refresher of the table this one replaces (its unchanged credentials are kept)."""
        self.sources = dict(sources)
        self._mint, self._report, self._clock, self._refresh_at = mint, report, clock, refresh_at
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        kept = {name: previous.kept(name, source) for name, source in self.sources.items()} if previous is not None else {}
        # Replaced whole on every change (under the lock); read without it.
        self._current: Mapping[str, Current] = {name: Current(kept.get(name), "", kept.get(name) is not None) for name in self.sources}
        self._threads = [
            threading.Thread(target=self._run, args=(name, source, kept.get(name)), name=f"credential-{name}", daemon=True)
            for name, source in self.sources.items()
        ]
        for thread in self._threads:
            thread.start()

    def kept(self, name: str, source: Source) -> Minted | None:
        """This refresher's credential for `name` if its source is `source` and it is still valid."""
        current = self._current.get(name)
        if self.sources.get(name) != source or current is None or current.minted is None:
            return None
        return current.minted if self._valid(current.minted) else None

    def current(self, name: str) -> Minted | str:
        """The credential to use now, or why there is none (PENDING while the first mint is under way)."""
        current = self._current.get(name)
        if current is None:
            return "no such credential in the routes in use"
        if current.minted is not None and self._valid(current.minted):
            return current.minted
        if not current.tried:
            return PENDING
        return current.error or "it expired (or was about to) before a refresh"

    def stop(self) -> None:
        """Stop refreshing (the table was replaced, or the proxy drains); credentials stay readable."""
        self._stopped.set()

    def _valid(self, minted: Minted) -> bool:
        until = usable_until(minted)
        return until is None or until > self._clock()

    def _run(self, name: str, source: Source, minted: Minted | None) -> None:
        failures = 0
        while not self._stopped.is_set():
            due = refresh_due(minted, self._refresh_at) if minted is not None else self._clock()
            if due is None:
                return  # it never expires
            if self._stopped.wait(max(0.0, due - self._clock()) if failures == 0 else retry_delay(failures)):
                return
            fresh: Minted | None = None
            try:
                fresh = self._mint(source, self._clock())
                error = expiry_problem(fresh, self._clock())
            except CredentialError as e:
                error = str(e)
            except Exception as e:  # noqa: BLE001 - a refresher thread must never die of a mint
                error = f"unexpected error minting ({type(e).__name__})"
            if error:
                fresh = None
            if self._stopped.is_set():
                return  # replaced meanwhile: this outcome is no longer anyone's
            refresh = minted is not None
            failures = failures + 1 if fresh is None else 0
            minted = fresh or minted
            self._publish(name, Current(minted, error, True))
            self._report(source, fresh, error, refresh)

    def _publish(self, name: str, current: Current) -> None:
        with self._lock:
            self._current = {**self._current, name: current}
