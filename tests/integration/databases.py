"""Scratch databases on the test server: migrated, with the roles by duty, dropped after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from streams.local import runtime


@contextmanager
def scratch_database(
    services: runtime.Endpoints, prefix: str, *, migrated: bool = True
) -> Iterator[runtime.Endpoints]:
    """A new database ``<prefix>_<random>`` on the services' server, migrated unless told
    otherwise; the endpoints that reach it (``.database(Duty.X)`` per duty)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    found = runtime.create_database(services, name, migrated=migrated)
    try:
        yield found
    finally:
        runtime.drop_database(services, name)
