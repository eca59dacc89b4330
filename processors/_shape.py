"""Reading a plain mapping into a frozen dataclass as its annotations say.

``build(cls, value)`` reads each field of ``cls`` from ``value[name]``: ``str``, ``int``,
``float``, ``bool``, ``X | None``, ``tuple[X, ...]``, ``dict[str, X]`` or another such class;
a field with a default may be missing. A value that does not fit raises ``Misfit`` with where
(``wagons[2].itus[0].value``) and what is wrong. ``processors.events`` is its one user.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Leg:
...     to_node: str
...     budget_ms: int | None = None
>>> build(Leg, {"to_node": "GATE"})
Leg(to_node='GATE', budget_ms=None)
>>> build(Leg, {"to_node": 7})
Traceback (most recent call last):
    ...
processors._shape.Misfit: to_node is not text (int 7)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

_Reader = Callable[[object], Any]
"""A plain value -> the typed value; Misfit when it is not one."""
_Plan = tuple[tuple[str, _Reader, bool], ...]
"""Each field of a class: its name, its reader, and whether the record must have it."""
_PLANS: dict[type, _Plan] = {}


class Misfit(Exception):  # noqa: N818 - the name reads as the fault; parse re-raises it
    """A value that does not fit its annotation; ``path`` collects where, innermost first, on
    the way out."""

    def __init__(self, problem: str, at: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = [at] if at else []

    @property
    def where(self) -> str:
        """The path to the value, ``wagons[2].itus[0].value`` (``the value`` at the top)."""
        return "".join(reversed(self.path)).removeprefix(".") or "the value"

    def __str__(self) -> str:
        return f"{self.where} {self.problem}"


def build(cls: type[T], value: object) -> T:
    """An instance of the dataclass ``cls`` read from the mapping ``value``; Misfit if it does
    not fit. Each class's readers are worked out once, on its first use."""
    if not isinstance(value, Mapping):
        raise Misfit(f"is not a record ({_shown(value)})")
    fields: dict[str, Any] = {}
    for name, read, required in _PLANS.get(cls) or _plan(cls):
        if name in value:
            try:
                fields[name] = read(value[name])
            except Misfit as misfit:
                misfit.path.append(f".{name}")
                raise
        elif required:
            raise Misfit("is missing", at=f".{name}")
    return cls(**fields)


def _plan(cls: type) -> _Plan:
    hints = typing.get_type_hints(cls)
    plan = tuple(
        (
            f.name,
            _reader(hints[f.name]),
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(cls)
    )
    _PLANS[cls] = plan
    return plan


def _reader(hint: Any) -> _Reader:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is types.UnionType and len(args) == 2 and type(None) in args:
        inner = _reader(next(a for a in args if a is not type(None)))
        return lambda v: None if v is None else inner(v)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _array(_reader(args[0]))
    if origin is dict and args[0] is str:
        return _map(_reader(args[1]))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        nested: type = hint
        return lambda v: build(nested, v)
    if hint in _SCALARS:
        return _SCALARS[hint]
    raise TypeError(f"no reader for the annotation {hint!r}")  # a class here is wrong


def _array(item: _Reader) -> _Reader:
    def read(value: object) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise Misfit(f"is not an array ({_shown(value)})")
        found = []
        for n, x in enumerate(value):
            try:
                found.append(item(x))
            except Misfit as misfit:
                misfit.path.append(f"[{n}]")
                raise
        return tuple(found)

    return read


def _map(entry: _Reader) -> _Reader:
    def read(value: object) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise Misfit(f"is not a map ({_shown(value)})")
        found = {}
        for key, x in value.items():
            try:
                found[_text(key)] = entry(x)
            except Misfit as misfit:
                misfit.path.append(f"[{key!r}]")
                raise
        return found

    return read


def _shown(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:40] + '...'}"


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise Misfit(f"is not text ({_shown(value)})")
    return value


def _integer(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise Misfit(f"is not an integer ({_shown(value)})")
    return value


def _number(value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise Misfit(f"is not a number ({_shown(value)})")
    return float(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise Misfit(f"is not true or false ({_shown(value)})")
    return value


_SCALARS: Mapping[Any, _Reader] = {str: _text, int: _integer, float: _number, bool: _flag}


def plain(value: object) -> Any:
    """The plain form of a typed value, as ``build`` reads it: a dataclass as a dict of its
    fields, tuples as lists, the rest as it is (so ``build(cls, plain(x)) == x``).

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Stop:
    ...     node: str
    ...     reads: tuple[int, ...] = ()
    >>> plain(Stop("GATE", (1, 2)))
    {'node': 'GATE', 'reads': [1, 2]}
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
