"""The query API's tokens file: read once at start-up, written by ``iotrack api tokens``.

The file holds one line per token, ``sha256:DIGEST ROLE NAME [OPERATOR_ID]``
(:func:`streams.http.access.parse_credentials`), never a token: ``add`` makes the token, prints
it once and keeps only its digest. The file is written whole (a temporary file renamed over it)
with mode 0600 in a directory of mode 0700, under a lock, so two ``add`` at once lose neither
line and a reader never sees half a file. ``deploy/api/tokens.dev`` (the demo's public tokens)
is never written.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from processors.parties import NAME as PARTY_NAME
from streams.errors import ConfigError
from streams.http.access import (
    TOKEN_NAME,
    Credentials,
    Principal,
    Role,
    new_token,
    parse_credentials,
    token_line,
)
from streams.ops.settings import CHECKOUT, Secret

DEV_TOKENS_FILE = CHECKOUT / "deploy" / "api" / "tokens.dev"
"""The demo's public development tokens (:mod:`streams.demo.dev_tokens`)."""
_HEADER = (
    "# iotrack api tokens: sha256:DIGEST ROLE NAME [OPERATOR_ID], one per line; written by\n"
    "# 'iotrack api tokens add' (which printed each token once) and read at 'iotrack api' start.\n"
)


def load_credentials(path: Path) -> Credentials:
    """Read the tokens file once; ConfigError names the file and line (never a token)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"IOTRACK_API_TOKENS_FILE={str(path)!r}: cannot read it (no such file): make a "
            "token with 'iotrack api tokens add ROLE NAME' (for the demo's public tokens, "
            f"point IOTRACK_API_TOKENS_FILE at {DEV_TOKENS_FILE})"
        ) from exc
    except OSError as exc:
        raise ConfigError(
            f"IOTRACK_API_TOKENS_FILE={str(path)!r}: cannot read it ({exc.strerror})"
        ) from exc
    return parse_credentials(_lines(text), where=str(path))


def _lines(text: str) -> list[str]:
    """The file's lines, broken at newlines only: a Unicode line break inside a line stays in
    it, for :func:`~streams.http.access.parse_credentials` to refuse."""
    return text.removesuffix("\n").split("\n") if text else []


def is_public(path: Path) -> bool:
    """Whether ``path`` is the demo's public tokens file."""
    return path.resolve() == DEV_TOKENS_FILE.resolve()


def listed(path: Path) -> list[Principal]:
    """Who holds a token of the file (none when there is no file yet)."""
    if not path.exists():
        return []
    return load_credentials(path).names()


def add_token(path: Path, role: Role, name: str, operator: str | None) -> Secret:
    """Make a token for ``name`` in ``role``, add its digest to the file and return the token
    (for the caller to print once: it is kept nowhere)."""
    if not TOKEN_NAME.match(name):
        raise ConfigError(
            f"NAME={name!r}: expected lower case letters, digits, '.', '_' or '-' (64 at most)"
        )
    if (role is Role.RAIL_OPERATOR) != (operator is not None):
        raise ConfigError(
            "--operator: required for a rail-operator token and allowed for no other role"
        )
    if operator is not None and not PARTY_NAME.fullmatch(operator):
        raise ConfigError(
            f"--operator={operator!r}: expected the rail operator's party name (lower case "
            "letters, digits and inner hyphens, as in 'iotrack parties add')"
        )
    token = new_token()
    with _locked(path) as lines:
        if any(p.name == name for p in _principals(path, lines)):
            raise ConfigError(
                f"NAME={name!r}: a token of that name is in {path} already; revoke it first"
            )
        lines.append(token_line(token.reveal(), role, name, operator))
        _write(path, lines)
    return token


def revoke_token(path: Path, name: str) -> Principal:
    """Remove ``name``'s token from the file; whom it stood for."""
    with _locked(path) as lines:
        principals = _principals(path, lines)
        gone = next((p for p in principals if p.name == name), None)
        if gone is None:
            raise ConfigError(f"NAME={name!r}: no token of that name in {path}")
        kept = [line for line in lines if not _names(line, name)]
        if not any(line.strip() and not line.lstrip().startswith("#") for line in kept):
            raise ConfigError(
                f"NAME={name!r} holds the last token of {path}: add another first (an API "
                "without tokens would not start)"
            )
        _write(path, kept)
    return gone


def _names(line: str, name: str) -> bool:
    parts = line.strip(" \t").split()
    return not line.lstrip().startswith("#") and len(parts) >= 3 and parts[2] == name


def _principals(path: Path, lines: list[str]) -> list[Principal]:
    if not any(line.strip() and not line.lstrip().startswith("#") for line in lines):
        return []
    return parse_credentials(lines, where=str(path)).names()


@contextmanager
def _locked(path: Path) -> Iterator[list[str]]:
    if is_public(path):
        raise ConfigError(
            f"IOTRACK_API_TOKENS_FILE={str(path)!r} is the demo's public tokens file: point "
            "IOTRACK_API_TOKENS_FILE at a file of your own (or leave it unset for "
            "IOTRACK_HOME/secrets/api-tokens)"
        )
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(descriptor) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            text = path.read_text(encoding="utf-8") if path.exists() else _HEADER
            yield _lines(text)
    except OSError as exc:
        raise ConfigError(
            f"IOTRACK_API_TOKENS_FILE={str(path)!r}: cannot write it ({exc.strerror})"
        ) from exc


def _write(path: Path, lines: list[str]) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:  # mkstemp: mode 0600
            out.write("\n".join(lines) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
