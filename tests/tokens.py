"""Credentials for tests: tokens in clear, as a test presents them, turned into the digest lines
a tokens file holds (``iotrack api tokens add`` writes those on a real machine)."""

from __future__ import annotations

from collections.abc import Iterable

from streams.http.access import Credentials, parse_credentials, token_line


def credentials_of(lines: Iterable[str]) -> Credentials:
    """Credentials from ``TOKEN ROLE [OPERATOR_ID]`` lines, each holder named by its line."""
    digests = []
    for number, line in enumerate(lines, start=1):
        token, role, *operator = line.split()
        digests.append(token_line(token, role, f"holder-{number}", *operator))
    return parse_credentials(digests, where="test tokens")
