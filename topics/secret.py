"""A secret string that never shows itself: passwords travel as :class:`Secret`.

It lives beside the topics because a Kafka connection (``topics.clients.KafkaConnection``)
carries one; ``streams.ops.settings`` re-exports it for everything else.

>>> Secret("hunter2")
Secret('***')
>>> Secret("hunter2").reveal()
'hunter2'
"""

from __future__ import annotations


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or logs; ``reveal()`` to use it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value, for the one place that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
