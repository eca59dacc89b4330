"""Event streams take a bounded share of the server's connections, in all and per holder, and
a slot comes back however its stream ends."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

import pytest

from streams.http.access import Principal, Role
from streams.http.stream_slots import StreamSlots, TooManyStreams

CUSTOMS = Principal(Role.CUSTOMS, None, "officer-1")
OTHER = Principal(Role.CUSTOMS, None, "officer-2")


async def _chunks(count: int) -> AsyncIterator[bytes]:
    for n in range(count):
        yield f"{n}".encode()


async def _drain(stream: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in stream]


def test_a_holder_keeps_at_most_its_share_and_others_go_on() -> None:
    slots = StreamSlots(total=3, per_holder=2)
    held = [slots.hold(CUSTOMS, _chunks(1)) for _ in range(2)]
    with pytest.raises(TooManyStreams, match="this token has 2 event streams open"):
        slots.hold(CUSTOMS, _chunks(1))
    third = slots.hold(OTHER, _chunks(1))
    with pytest.raises(TooManyStreams, match="3 event streams are open"):
        slots.hold(OTHER, _chunks(1))
    assert slots.open() == 3
    assert asyncio.run(_drain(held[0])) == [b"0"]
    assert slots.open() == 2, "a finished stream gives its slot back"
    slots.hold(CUSTOMS, _chunks(1))
    del held, third


def test_a_stream_that_fails_or_is_cancelled_gives_its_slot_back() -> None:
    slots = StreamSlots(total=2, per_holder=2)

    async def failing() -> AsyncIterator[bytes]:
        yield b"x"
        raise RuntimeError("the database went")

    with pytest.raises(RuntimeError):
        asyncio.run(_drain(slots.hold(CUSTOMS, failing())))
    assert slots.open() == 0

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"."
            await asyncio.sleep(0.01)

    async def client_goes() -> None:
        task = asyncio.ensure_future(_drain(slots.hold(CUSTOMS, endless())))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(client_goes())
    assert slots.open() == 0


def test_a_stream_never_started_gives_its_slot_back_when_collected() -> None:
    slots = StreamSlots(total=1, per_holder=1)
    stream = slots.hold(CUSTOMS, _chunks(1))
    assert slots.open() == 1
    del stream
    gc.collect()
    assert slots.open() == 0
    slots.hold(CUSTOMS, _chunks(1))
