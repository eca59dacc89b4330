"""Errors of the edge: bad device input, and a spool that cannot keep what it was given."""

from __future__ import annotations

from processors.errors import IotrackError


class ReadersError(IotrackError):
    """Base of every error raised by the readers layer."""


class PayloadError(ReadersError):
    """A device payload cannot be understood; the message gives the JSON path and the problem."""


class SpoolError(ReadersError):
    """The local spool could not store or hand back records (disk full, file damaged)."""
