"""Files a user hands a command: read once, their problems named with the path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from streams.errors import InputFileError


def read_text(path: str) -> str:
    """The whole file as text (``-``: standard input); InputFileError when it cannot be read or
    is not UTF-8."""
    try:
        if path == "-":
            return sys.stdin.buffer.read().decode("utf-8")
        return Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise InputFileError(f"{path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from exc


@contextmanager
def open_binary(path: str) -> Iterator[BinaryIO]:
    """The file opened for reading bytes (``-``: standard input); InputFileError when it cannot
    be opened."""
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        source = Path(path).open("rb")  # noqa: SIM115 - closed below, after the open's own error
    except OSError as exc:
        raise InputFileError(f"{path}: {exc.strerror or exc}") from exc
    with source:
        yield source
