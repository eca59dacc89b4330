"""Failures of the HTTP surfaces that become an HTTP answer (404, 503)."""

from __future__ import annotations

from streams.errors import StreamsError


class HttpError(StreamsError):
    """Base of the failures an HTTP route answers with a status of its own."""


class NotFound(HttpError):  # noqa: N818 - named after the HTTP answer
    """No such resource (HTTP 404)."""


class Unavailable(HttpError):  # noqa: N818 - named after the HTTP answer
    """A dependency (database, gate state) cannot answer now (HTTP 503)."""


class Busy(Unavailable):
    """Every database connection stayed in use for the whole wait (HTTP 503, Retry-After)."""
