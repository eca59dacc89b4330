"""The demo's bearer tokens: public, written here in clear, and good for a development machine
only.

``deploy/api/tokens.dev`` holds their digests (a test keeps the two equal); the demo serves its
API and console with that file and prints these tokens so that a newcomer can sign in. Anywhere
else, make tokens with ``iotrack api tokens add ROLE NAME``: each is printed once and only its
digest is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.http.tokens_file import DEV_TOKENS_FILE


@dataclass(frozen=True)
class DevToken:
    """A public development token and whom it stands for."""

    token: str
    role: str
    name: str
    operator: str | None = None


DEV_TOKENS = (
    DevToken("dev-customs-7d1f3a9c5b2e", "customs", "dev-customs"),
    DevToken("dev-gdf-4e8a2c6f1b9d0a3e", "gdf", "dev-gdf"),
    DevToken("dev-terminal-2b7e9d4c1f6a", "terminal", "dev-terminal"),
    DevToken("dev-rail-op1-8c3f5a1e7d2b", "rail-operator", "dev-rail-op1", "tuscan-rail"),
    DevToken("dev-rail-op2-5f9b2d8e4a1c", "rail-operator", "dev-rail-op2", "other-rail"),
)


def sign_in_hint() -> str:
    """The tokens a person signs in with, one per role, for the demo's printed lines."""
    return ", ".join(f"{t.name.removeprefix('dev-')} {t.token}" for t in DEV_TOKENS)


__all__ = ["DEV_TOKENS", "DEV_TOKENS_FILE", "DevToken", "sign_in_hint"]
