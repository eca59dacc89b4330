"""iotrack's error root, and what the processors refuse to take.

``IotrackError`` is the root of every error iotrack raises on purpose, in every layer: each
layer's own small hierarchy derives from it (``ProcessorError`` here, ``topics.errors.TopicsError``,
``readers.errors.ReadersError``, ``streams.errors.StreamsError``), so the command line maps any
of them to an exit status in one table (``streams.cli.exits``) and never shows a traceback for an
expected failure. It lives in the lowest layer so that every other may import it.

``ProcessorError`` is the root of every error a processor raises about what it was given: a
record without its shape (``MalformedRecord``) or of a type no processor takes
(``UnexpectedRecordType``), here; a mission path that cannot be followed
(``mission.PathError``), a train phase step the table does not allow
(``rail.TrainTransitionError``), an identifier that fails validation
(``identifiers.IdentifierError`` and its subclasses). Each derives from ``ValueError`` as well,
so callers that only ask whether a value was acceptable can catch that. The tracking core
turns them into refusals (dead letters) with an ``error_kind`` that names the fault.
"""

from __future__ import annotations

from typing import Any


class IotrackError(Exception):
    """Root of every error iotrack raises on purpose."""


class ProcessorError(IotrackError):
    """Something given to the processors that they cannot take."""


class UnexpectedRecordType(ProcessorError, ValueError):  # noqa: N818 (the name reads as the fault)
    """A record of a type that no processor takes (an output, or a type not known here).

    >>> str(UnexpectedRecordType("iotrack.IotState"))
    'the processors do not take iotrack.IotState records'
    """

    def __init__(self, record_type: str) -> None:
        super().__init__(f"the processors do not take {record_type} records")
        self.record_type = record_type

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.record_type,))


class MalformedRecord(ProcessorError, ValueError):  # noqa: N818 (the name reads as the fault)
    """A record of a type the processors take that does not have its shape: a field missing, or
    a value of the wrong type. ``field`` is the path to it (``wagons[2].itus[0].value``).

    >>> str(MalformedRecord("iotrack.Passage", "identifiers[0].kind", "is missing"))
    'iotrack.Passage: identifiers[0].kind is missing'
    """

    def __init__(self, record_type: str, field: str, problem: str) -> None:
        super().__init__(f"{record_type}: {field} {problem}")
        self.record_type = record_type
        self.field = field
        self.problem = problem

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.record_type, self.field, self.problem))
