"""Errors of the topics layer: schemas, the wire codec and topic administration.

Library errors (fastavro, confluent-kafka) are translated into these once, at the edge, with
the original kept as ``__cause__``.
"""

from __future__ import annotations

from processors.errors import IotrackError


class TopicsError(IotrackError):
    """Base of every error raised by the topics layer."""


class SchemaDefinitionError(TopicsError):
    """A schema file in ``avro/`` is missing, misnamed or does not parse."""


class CodecError(TopicsError):
    """Bytes could not be encoded or decoded."""


class EncodeError(CodecError):
    """A record does not match its schema; the message names the field."""


class DecodeError(CodecError):
    """Bytes taken from a topic could not be turned into a record."""


class NotAvroError(DecodeError):
    """The bytes do not start with the expected framing marker."""


class TruncatedMessageError(DecodeError):
    """The bytes end before the framing header or the record body is complete."""


class UnknownSchemaError(DecodeError):
    """The writer schema's fingerprint (or registry id) is not one we know."""


class CorruptMessageError(DecodeError):
    """The framing is right but the body does not decode against the writer schema."""


class UnexpectedRecordTypeError(DecodeError):
    """The record decoded fine but its type is not one this topic carries."""


class CatalogError(TopicsError):
    """The topic catalogue is inconsistent, or a name is not in it."""


class AdminError(TopicsError):
    """The broker refused or could not complete an administrative request."""
