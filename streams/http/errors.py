"""Failures of the HTTP surfaces that become an HTTP answer, and the one table that maps them.

``BadParameter`` (400) and ``Forbidden`` (403) are decided by the pure rules in
:mod:`streams.http.access`; the others here. :data:`STATUSES` is the only place an error
becomes a status: the application's exception handler reads it (most specific class first).
"""

from __future__ import annotations

from http import HTTPStatus

from streams.errors import StreamsError
from streams.http.access import BadParameter, Forbidden


class HttpError(StreamsError):
    """Base of the failures an HTTP route answers with a status of its own."""


class Unauthorized(HttpError):  # noqa: N818 - named after the HTTP answer
    """No valid bearer token (HTTP 401, WWW-Authenticate)."""


class NotFound(HttpError):  # noqa: N818 - named after the HTTP answer
    """No such resource (HTTP 404)."""


class Conflict(HttpError):  # noqa: N818 - named after the HTTP answer
    """The request contradicts the resource's state (HTTP 409)."""


class TooLarge(HttpError):  # noqa: N818 - named after the HTTP answer
    """A request body over the limit (HTTP 413)."""


class Unavailable(HttpError):  # noqa: N818 - named after the HTTP answer
    """A dependency (database, gate state) cannot answer now (HTTP 503, Retry-After)."""


class Busy(Unavailable):
    """Every database connection stayed in use for the whole wait (HTTP 503, Retry-After)."""


STATUSES: tuple[tuple[type[StreamsError], HTTPStatus], ...] = (
    (BadParameter, HTTPStatus.BAD_REQUEST),
    (Unauthorized, HTTPStatus.UNAUTHORIZED),
    (Forbidden, HTTPStatus.FORBIDDEN),
    (NotFound, HTTPStatus.NOT_FOUND),
    (Conflict, HTTPStatus.CONFLICT),
    (TooLarge, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    (Unavailable, HTTPStatus.SERVICE_UNAVAILABLE),
)
"""Which error answers which status; anything else is a 500 (and logged)."""


def status_of(error: BaseException) -> HTTPStatus:
    """The status an error answers.

    >>> status_of(Busy("x")), status_of(BadParameter("limit", "x")), status_of(KeyError())
    (<HTTPStatus.SERVICE_UNAVAILABLE: 503>, <HTTPStatus.BAD_REQUEST: 400>, \
<HTTPStatus.INTERNAL_SERVER_ERROR: 500>)
    """
    for kind, status in STATUSES:
        if isinstance(error, kind):
            return status
    return HTTPStatus.INTERNAL_SERVER_ERROR
