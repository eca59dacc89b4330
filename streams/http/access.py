"""Who may ask the query API what, and what each role sees: pure rules, no I/O.

Roles (design section 5, "need-to-know"):

============== ===========================================================================
role           sees
============== ===========================================================================
customs        everything, including hold reason codes, risk details and control outcomes
gdf            verdicts, timelines and holds without reason codes or outcomes, deviations
terminal       verdicts (lookup, gate check) and timelines without holds or deviations
rail-operator  its own trains only (manifest versions, permission to leave)
============== ===========================================================================

Credentials are bearer tokens whose SHA-256 digests are listed in a file read once at start-up
(``IOTRACK_API_TOKENS_FILE``), one per line: ``sha256:DIGEST ROLE NAME [OPERATOR_ID]`` (the
operator id is required for ``rail-operator``); ``iotrack api tokens add`` makes a token, prints
it once and writes its line. Neither the file nor the process holds a token; no message shows one.

Pagination cursors are opaque: the projection-assigned sequence number
of the last row handed out (deviations are numbered in the order the projection commits them),
versioned and base64url-encoded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from processors.parties import NAME as PARTY_NAME
from streams.errors import ConfigError, StreamsError
from streams.ops.settings import Secret


class Role(StrEnum):
    """The parties that query the read side."""

    CUSTOMS = "customs"
    GDF = "gdf"
    TERMINAL = "terminal"
    RAIL_OPERATOR = "rail-operator"


@dataclass(frozen=True)
class Principal:
    """Who is asking: a role, and for a rail operator its operator id."""

    role: Role
    operator: str | None = None
    name: str = ""

    def __repr__(self) -> str:  # never the token; only what the token stands for
        return f"Principal({self.role.value}, operator={self.operator!r}, name={self.name!r})"


class Forbidden(StreamsError):  # noqa: N818 - named after the HTTP status it maps to
    """The principal may not see this resource (HTTP 403)."""


class BadParameter(StreamsError, ValueError):  # noqa: N818 - named after the HTTP answer
    """A request parameter is missing or malformed (HTTP 400); ``parameter`` names it."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter


ENDPOINT_ROLES: Mapping[str, frozenset[Role]] = {
    "timeline": frozenset({Role.CUSTOMS, Role.GDF, Role.TERMINAL}),
    "lookup": frozenset({Role.CUSTOMS, Role.GDF, Role.TERMINAL}),
    "binding": frozenset({Role.CUSTOMS, Role.GDF}),
    "deviations": frozenset({Role.CUSTOMS, Role.GDF}),
    "train": frozenset({Role.CUSTOMS, Role.GDF, Role.RAIL_OPERATOR}),
    "gate-check": frozenset({Role.CUSTOMS, Role.GDF, Role.TERMINAL}),
    "subscriptions": frozenset(Role),
}
"""Which roles may call each endpoint at all (a rail operator then only for its own trains)."""

SUBSCRIPTION_ROLES: Mapping[str, frozenset[Role]] = {
    "deviations": ENDPOINT_ROLES["deviations"],
    "verdicts": ENDPOINT_ROLES["gate-check"],
    "trains": ENDPOINT_ROLES["train"],
}
"""Who may subscribe to what: nobody to more than the endpoints its role may read."""
CONSOLE_ROLES: Mapping[str, frozenset[Role]] = {
    # The day's dead letters hold the refused inputs' own bytes (a hold's reason among them):
    # Customs reads every dead letter, nobody else (topics/catalog.py says the same).
    "dead-letters": frozenset({Role.CUSTOMS}),
    # The inputs the core keeps waiting, counted by what they wait for (no unit, no reason).
    "waiting-inputs": frozenset({Role.CUSTOMS}),
    # Each process's readiness and lag, the dashboards: the authorities that run the port.
    "operations": frozenset({Role.CUSTOMS, Role.GDF}),
    # Sending a loading list or a manifest: a rail operator, on its own topic, its own trains.
    "train-upload": frozenset({Role.RAIL_OPERATOR}),
}
"""Which roles may open the web console's pages that show no query endpoint (the others are
:data:`ENDPOINT_ROLES`' own: the console shows what the API would answer, cut the same way)."""
CUSTOMS_ONLY_HOLD_FIELDS = ("reason_code", "reason", "outcome")
"""Hold fields only Customs sees: the risk-analysis code, the risk details, the control outcome."""


def authorize(principal: Principal, endpoint: str) -> None:
    """Raise Forbidden unless the principal's role may call ``endpoint``.

    >>> authorize(Principal(Role.TERMINAL), "deviations")
    Traceback (most recent call last):
    ...
    streams.http.access.Forbidden: the terminal role may not read deviations
    """
    if principal.role not in ENDPOINT_ROLES[endpoint]:
        raise Forbidden(f"the {principal.role.value} role may not read {endpoint}")


def may(principal: Principal, endpoint: str) -> bool:
    """Whether the principal may call ``endpoint`` (of :data:`ENDPOINT_ROLES`) or open the
    console page ``endpoint`` (of :data:`CONSOLE_ROLES`).

    >>> may(Principal(Role.TERMINAL), "gate-check"), may(Principal(Role.GDF), "dead-letters")
    (True, False)
    """
    allowed = ENDPOINT_ROLES.get(endpoint)
    if allowed is None:
        allowed = CONSOLE_ROLES[endpoint]
    return principal.role in allowed


def authorize_console(principal: Principal, page: str) -> None:
    """Raise Forbidden unless the principal may open the console page ``page``.

    >>> authorize_console(Principal(Role.GDF), "dead-letters")
    Traceback (most recent call last):
    ...
    streams.http.access.Forbidden: the gdf role may not see dead-letters
    """
    if not may(principal, page):
        raise Forbidden(f"the {principal.role.value} role may not see {page}")


def authorize_train(principal: Principal, operator: str | None) -> None:
    """Raise Forbidden unless the principal may see a train run by ``operator``."""
    authorize(principal, "train")
    if principal.role is Role.RAIL_OPERATOR and (
        operator is None or operator != principal.operator
    ):
        raise Forbidden("a rail operator sees its own trains only")


def hold_view(principal: Principal, hold: Mapping[str, Any]) -> dict[str, Any]:
    """A hold as the principal may see it: reason codes, risk details and outcomes for Customs
    only.

    >>> hold = {"agency": "CUSTOMS", "reason_code": "RISK-7", "reason": "x", "outcome": None}
    >>> hold_view(Principal(Role.GDF), hold)
    {'agency': 'CUSTOMS'}
    """
    if principal.role is Role.CUSTOMS:
        return dict(hold)
    return {k: v for k, v in hold.items() if k not in CUSTOMS_ONLY_HOLD_FIELDS}


def authorize_subscription(principal: Principal, topic: str) -> None:
    """Raise Forbidden unless the principal's role may subscribe to ``topic``.

    >>> authorize_subscription(Principal(Role.TERMINAL), "deviations")
    Traceback (most recent call last):
    ...
    streams.http.access.Forbidden: the terminal role may not subscribe to deviations
    """
    if principal.role not in SUBSCRIPTION_ROLES.get(topic, frozenset()):
        raise Forbidden(f"the {principal.role.value} role may not subscribe to {topic}")


def notification_view(role: Role, document: Any) -> Any:
    """A notification as a subscriber of ``role`` may receive it: for anyone but Customs,
    without hold reason codes, risk details or control outcomes at any depth (whatever the
    event carries now or gains later).

    >>> notification_view(Role.TERMINAL, {"open_holds": [{"agency": "CUSTOMS",
    ...                                                   "reason_code": "RISK-7"}]})
    {'open_holds': [{'agency': 'CUSTOMS'}]}
    """
    if role is Role.CUSTOMS:
        return document
    if isinstance(document, Mapping):
        return {
            k: notification_view(role, v)
            for k, v in document.items()
            if k not in CUSTOMS_ONLY_HOLD_FIELDS
        }
    if isinstance(document, list):
        return [notification_view(role, v) for v in document]
    return document


def timeline_view(principal: Principal, timeline: Mapping[str, Any]) -> dict[str, Any]:
    """A timeline as the principal may see it: Customs all of it; the GdF holds without their
    reasons; a terminal neither holds (not even the verdict's open ones) nor deviations nor
    releases (the verdict's outcome and reasons say enough); nobody but Customs the states of
    the declarations (a control under way is Customs' to tell)."""
    authorize(principal, "timeline")
    shown = dict(timeline)
    if principal.role is not Role.CUSTOMS:
        shown.pop("declarations", None)
    if principal.role is Role.TERMINAL:
        for hidden in ("holds", "deviations", "releases"):
            shown.pop(hidden, None)
        verdict = shown.get("verdict")
        if isinstance(verdict, Mapping):
            shown["verdict"] = {k: v for k, v in verdict.items() if k != "open_holds"}
        return shown
    shown["holds"] = [hold_view(principal, h) for h in timeline.get("holds", [])]
    return shown


# ----------------------------------------------------------------------------- credentials

DIGEST_PREFIX = "sha256:"
_DIGEST = re.compile(r"\Asha256:([0-9a-f]{64})\Z")
_TOKEN = re.compile(r"\A[A-Za-z0-9._~+/=-]{16,}\Z")
_PRINTABLE = re.compile(r"\A[\x20-\x7e\t]*\Z")
_FIELDS = re.compile(r"[ \t]+")
TOKEN_NAME = re.compile(r"\A[a-z0-9][a-z0-9._-]{0,62}\Z")
"""A token's name: who holds it (``gate-3-clerk``), lower case, as it is listed and revoked."""


def token_digest(token: str) -> str:
    """What a tokens file keeps of a token: its SHA-256 digest, in hex.

    A token made by :func:`new_token` has 256 random bits, so a fast digest is enough: nobody
    recovers a token from its digest by guessing (a password would need a slow, salted hash).

    >>> token_digest("aaaaaaaaaaaaaaaa1")[:15]
    'sha256:8b61d50c'
    """
    return DIGEST_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> Secret:
    """A new bearer token: 43 characters of the URL-safe alphabet (256 random bits)."""
    return Secret(secrets.token_urlsafe(32))


def token_line(token: str, role: Role | str, name: str, operator: str | None = None) -> str:
    """The tokens-file line of ``token`` (its digest, never the token itself).

    >>> token_line("aaaaaaaaaaaaaaaa1", "rail-operator", "ops-desk", "op-1")[-28:]
    ' rail-operator ops-desk op-1'
    """
    if not _TOKEN.match(token):
        raise ConfigError("a token needs 16 or more characters of A-Z a-z 0-9 . _ ~ + / = -")
    fields = [token_digest(token), Role(role).value, name]
    return " ".join([*fields, operator] if operator else fields)


@dataclass(frozen=True)
class Credentials:
    """Bearer tokens' digests and whom each stands for."""

    by_digest: Mapping[bytes, Principal]

    def principal(self, token: str | None) -> Principal | None:
        """Whom a presented token stands for; None when it is not one of ours.

        The presented token is hashed, then its digest compared with every digest listed, each
        in constant time and none skipped, so the time taken tells nothing of how close a
        guess came, nor which entry matched.
        """
        if not token:
            return None
        presented = hashlib.sha256(token.encode()).digest()
        found: Principal | None = None
        for digest, principal in self.by_digest.items():
            if hmac.compare_digest(presented, digest):
                found = principal
        return found

    def roles(self) -> dict[str, int]:
        """How many tokens each role has (for a start-up line; never the tokens)."""
        found: dict[str, int] = {}
        for principal in self.by_digest.values():
            found[principal.role.value] = found.get(principal.role.value, 0) + 1
        return dict(sorted(found.items()))

    def names(self) -> list[Principal]:
        """Every token's holder, in the file's order."""
        return list(self.by_digest.values())


def parse_credentials(lines: Iterable[str], where: str = "tokens file") -> Credentials:
    """Parse ``sha256:DIGEST ROLE NAME [OPERATOR_ID]`` lines (``#`` comments and blank lines
    skipped; ``iotrack api tokens add`` writes them).

    ConfigError names the line and what is wrong; a token written in clear is refused (and
    not echoed): a tokens file keeps digests only.

    >>> line = token_line("bbbbbbbbbbbbbbbb2", "rail-operator", "desk", "op-1")
    >>> parse_credentials(["# dev", line]).principal("bbbbbbbbbbbbbbbb2")
    Principal(rail-operator, operator='op-1', name='desk')
    >>> parse_credentials(["bbbbbbbbbbbbbbbb2 customs desk"])
    Traceback (most recent call last):
    ...
    streams.errors.ConfigError: tokens file line 1: expected a token's digest (sha256: and 64 ...
    """
    by_digest: dict[bytes, Principal] = {}
    names: set[str] = set()
    for number, text in enumerate(lines, start=1):
        at = f"{where} line {number}"
        line = text.rstrip("\r").strip(" \t")
        if not _PRINTABLE.match(line):
            # Not echoed (it may hold a token); a Unicode line or field break would make a
            # credential look like a comment to a person or a grep and not to this parser.
            raise ConfigError(f"{at}: a character other than printable ASCII, space or tab")
        if not line or line.startswith("#"):
            continue
        parts = _FIELDS.split(line)
        digest_match = _DIGEST.match(parts[0])
        if digest_match is None:
            raise ConfigError(
                f"{at}: expected a token's digest (sha256: and 64 hex digits), not a token in "
                "clear; make tokens with 'iotrack api tokens add ROLE NAME'"
            )
        if len(parts) not in (3, 4):
            raise ConfigError(f"{at}: expected sha256:DIGEST ROLE NAME [OPERATOR_ID]")
        role_name, name = parts[1], parts[2]
        # Fields are not echoed either: a token pasted into the wrong one would be shown.
        try:
            role = Role(role_name)
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise ConfigError(f"{at}: the role is not one of {known}") from None
        if not TOKEN_NAME.match(name):
            raise ConfigError(f"{at}: the name is not lower case letters, digits, '.', '_' or '-'")
        operator = parts[3] if len(parts) == 4 else None
        if (role is Role.RAIL_OPERATOR) != (operator is not None):
            raise ConfigError(
                f"{at}: an operator id is required for rail-operator and allowed for no other role"
            )
        if operator is not None and not PARTY_NAME.fullmatch(operator):
            raise ConfigError(
                f"{at}: the operator id is not a rail operator's party name (lower case "
                "letters, digits and inner hyphens, as in 'iotrack parties add')"
            )
        digest = bytes.fromhex(digest_match.group(1))
        if digest in by_digest:
            raise ConfigError(f"{at}: the same token is listed twice")
        if name in names:
            raise ConfigError(f"{at}: the name {name!r} is listed twice")
        names.add(name)
        by_digest[digest] = Principal(role, operator, name)
    if not by_digest:
        raise ConfigError(f"{where}: no credentials (expected sha256:DIGEST ROLE NAME lines)")
    return Credentials(by_digest)


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header; None when absent or another
    scheme.

    >>> bearer("Bearer abc"), bearer("Basic abc"), bearer(None)
    ('abc', None, None)
    """
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


# ----------------------------------------------------------------------------- cursors

_CURSOR_VERSION = 2
_SEQUENCE = re.compile(r"\A[0-9]{1,19}\Z")


def encode_cursor(sequence: int) -> str:
    """The opaque cursor after the row numbered ``sequence`` (its ``deviations.seq``).

    >>> decode_cursor(encode_cursor(1234))
    1234
    """
    raw = json.dumps([_CURSOR_VERSION, sequence], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, parameter: str = "after") -> int:
    """The sequence number a cursor stands for; BadParameter naming ``parameter`` when it is
    not one (cursors of the former ``(occurred_at, event_id)`` keyset included)."""
    try:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", cursor):
            raise ValueError("not base64url")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, sequence = json.loads(raw)
        if (
            version != _CURSOR_VERSION
            or not isinstance(sequence, int)
            or isinstance(sequence, bool)
            or not 0 <= sequence < 2**63
        ):
            raise ValueError("unknown cursor version")
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise BadParameter(
            parameter, "not a cursor of this API (pass the next_cursor of a previous page)"
        ) from None
    return sequence


# ----------------------------------------------------------------------------- parameters


def parse_time(text: str, parameter: str) -> datetime:
    """An ISO 8601 date-time (UTC when it names no offset); BadParameter otherwise.

    >>> parse_time("2026-11-25T08:00:00Z", "since").isoformat()
    '2026-11-25T08:00:00+00:00'
    """
    try:
        found = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise BadParameter(
            parameter, f"{text!r} is not an ISO 8601 date-time, e.g. 2026-11-25T08:00:00Z"
        ) from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


_WHOLE = re.compile(r"\A[0-9]{1,9}\Z")
"""A whole number in ASCII digits, short enough for ``int`` (``str.isdigit`` also accepts
superscripts such as ``²`` that ``int`` refuses)."""


def parse_limit(text: str | None, default: int = 100, maximum: int = 500) -> int:
    """A page size between 1 and ``maximum``.

    >>> parse_limit("²")
    Traceback (most recent call last):
    ...
    streams.http.access.BadParameter: limit: expected a whole number from 1 to 500
    """
    if text is None:
        return default
    text = text.strip()
    if not _WHOLE.match(text) or not 1 <= int(text) <= maximum:
        raise BadParameter("limit", f"expected a whole number from 1 to {maximum}")
    return int(text)


def no_nul(text: str, parameter: str) -> str:
    """``text`` unless it holds a NUL character (which no identifier has and Postgres refuses
    in text); BadParameter naming ``parameter`` otherwise."""
    if "\x00" in text:
        raise BadParameter(parameter, "must not contain a NUL character")
    return text


def parse_uuid(text: str, parameter: str) -> str:
    """A UUID in canonical text; BadParameter otherwise."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise BadParameter(parameter, f"{text!r} is not a UUID") from None
