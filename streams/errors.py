"""Errors of the Kafka-facing shells and the local services; each message says cause and fix."""

from __future__ import annotations

from processors.errors import IotrackError


class StreamsError(IotrackError):
    """Base of every error raised by the streams layer."""


class ConfigError(StreamsError):
    """A configuration value is missing or malformed; the message names the key."""


class LocalServiceError(StreamsError):
    """A local broker or database could not be installed, started or stopped.

    ``log_path`` is where to look next, when there is such a file.
    """

    def __init__(self, message: str, log_path: object | None = None) -> None:
        self.log_path = log_path
        super().__init__(f"{message} (log: {log_path})" if log_path else message)


class MigrationError(StreamsError):
    """A database migration failed or an applied migration file was edited afterwards."""


class DeliveryError(StreamsError):
    """The broker did not acknowledge a produced record."""


class InputFileError(StreamsError):
    """A file given to a command cannot be read, or is not text in UTF-8; the message names it."""
