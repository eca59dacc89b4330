"""The web console's sessions and CSRF tokens: who a browser is, for how long, and whether a
form it posts is one the console gave it.

A person signs in with a bearer token of the tokens file (the same credentials as the API:
:class:`streams.http.access.Credentials`); the console then keeps a session on the server and
gives the browser only its id, in a cookie that scripts cannot read (``HttpOnly``), that no
other site's request carries (``SameSite=Strict``), scoped to ``/console``, and ``Secure``
when the console is reached over TLS. Sessions live in this process's memory: signing out ends
one at once (a signed cookie could not be taken back), a restart ends them all, and they are
not shared between API processes.

A session ends after ``idle_s`` without a request, and ``lifetime_s`` after sign-in whatever
happens. Its id is 32 random bytes; the store keys sessions by the id's SHA-256, so what is in
memory cannot be replayed as a cookie.

**CSRF.** Every form that changes something carries the session's CSRF token in a hidden field
(``csrf``); a POST whose token is missing or differs is refused (403) before it is acted on.
The sign-in form, before any session exists, uses a double-submit token: a random value in a
short-lived ``HttpOnly``, ``SameSite=Strict`` cookie and in the form, which must match.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from streams.http.access import Forbidden, Principal

COOKIE = "iotrack_console"
"""The session cookie's name."""
SIGN_IN_COOKIE = "iotrack_console_sign_in"
"""The sign-in form's double-submit CSRF cookie."""
PATH = "/console"
MAX_SESSIONS = 10_000
"""Sessions kept at most; past that, signing in first drops the expired, then the oldest."""
LIFETIME_S = 12 * 3600.0
"""How long a session lasts after sign-in, used or not."""


class CsrfRefused(Forbidden):
    """A form posted without the CSRF token the console gave it (HTTP 403)."""


@dataclass
class Session:
    """One signed-in browser."""

    principal: Principal
    csrf: str
    started: float
    seen: float
    flash: list[str] = field(default_factory=list)
    """Messages to show once on the next page (the answer to an upload)."""


def _digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


def same_token(expected: str | None, given: str | None) -> bool:
    """Whether a posted token is the expected one (constant time; both must be present).

    >>> same_token("abc", "abc"), same_token("abc", "abd"), same_token("abc", None)
    (True, False, False)
    """
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


class Sessions:
    """The sessions of this process, thread-safe (routes run on a thread pool)."""

    def __init__(
        self,
        idle_s: float,
        lifetime_s: float = LIFETIME_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        limit: int = MAX_SESSIONS,
    ) -> None:
        self.idle_s = idle_s
        self.lifetime_s = lifetime_s
        self._clock = clock
        self._limit = limit
        self._lock = threading.Lock()
        self._by_digest: dict[bytes, Session] = {}

    def start(self, principal: Principal) -> tuple[str, Session]:
        """A new session for ``principal``: its id (for the cookie only) and the session."""
        now = self._clock()
        session_id = secrets.token_urlsafe(32)
        session = Session(principal, secrets.token_urlsafe(32), now, now)
        with self._lock:
            if len(self._by_digest) >= self._limit:
                self._drop_expired(now)
            while len(self._by_digest) >= self._limit:
                oldest = min(self._by_digest, key=lambda d: self._by_digest[d].started)
                del self._by_digest[oldest]
            self._by_digest[_digest(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of a cookie's id (its idle time starts again); None when there is
        none, or it expired (then it is dropped)."""
        if not session_id:
            return None
        now = self._clock()
        key = _digest(session_id)
        with self._lock:
            session = self._by_digest.get(key)
            if session is None:
                return None
            if self._expired(session, now):
                del self._by_digest[key]
                return None
            session.seen = now
            return session

    def alive(self, session_id: str | None) -> bool:
        """Whether the session is still live, without counting as a use (for live streams,
        which must end when their session does but must not keep it alive)."""
        if not session_id:
            return False
        with self._lock:
            session = self._by_digest.get(_digest(session_id))
            return session is not None and not self._expired(session, self._clock())

    def end(self, session_id: str | None) -> None:
        """Sign out: the session is gone, its cookie worth nothing from now on."""
        if session_id:
            with self._lock:
                self._by_digest.pop(_digest(session_id), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_digest)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.seen > self.idle_s or now - session.started > self.lifetime_s

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, s in self._by_digest.items() if self._expired(s, now)]:
            del self._by_digest[key]


def check_csrf(expected: str | None, given: str | None) -> None:
    """CsrfRefused unless the form carried the expected token."""
    if not same_token(expected, given):
        raise CsrfRefused(
            "this form was not sent by the console page it came from (its CSRF token is "
            "missing or wrong): reload the page and send it again"
        )
