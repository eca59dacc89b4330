"""The Avro schemas kept in ``avro/``, loaded once, with their fingerprints.

``avro/`` holds one named type per file (``<namespace>.<Name>.avsc``) that may refer to other
named types by full name. Each record is *expanded* here: every referenced type is inlined at
its first use, as the Avro specification's Parsing Canonical Form requires, so that its
CRC-64-AVRO fingerprint identifies the whole writer schema.

``avro/history/`` keeps superseded versions of records, already expanded, as
``<full name>.v<N>.avsc``. Their fingerprints stay known so that bytes written with an old
version still decode (resolved against the current version).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from topics.errors import SchemaDefinitionError

AVRO_DIR = Path(__file__).resolve().parent.parent / "avro"
HISTORY_DIR_NAME = "history"

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_HISTORY_FILE = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)\.v(?P<version>\d+)\.avsc$")

Json = Any


@dataclass(frozen=True)
class SchemaVersion:
    """One version of a named record: its expanded JSON, parsed form and fingerprint."""

    full_name: str
    version: int
    expanded: Json
    parsed: Json
    canonical: str
    fingerprint: bytes

    @property
    def fingerprint_hex(self) -> str:
        """The fingerprint as 16 hex digits, in wire (little-endian) order."""
        return self.fingerprint.hex()


def _full_name(schema: Mapping[str, Any], enclosing_namespace: str | None) -> str:
    name = str(schema["name"])
    if "." in name:
        return name
    namespace = schema.get("namespace", enclosing_namespace)
    return f"{namespace}.{name}" if namespace else name


def _expand(
    node: Json, definitions: Mapping[str, Json], seen: set[str], namespace: str | None
) -> Json:
    """Inline named types by reference at their first occurrence (depth first, in order)."""
    if isinstance(node, str):
        if node in _PRIMITIVES:
            return node
        full = node if "." in node or namespace is None else f"{namespace}.{node}"
        if full not in definitions and node in definitions:
            full = node
        if full in seen:
            return full
        if full not in definitions:
            raise SchemaDefinitionError(f"unknown named type {node!r}")
        return _expand(definitions[full], definitions, seen, namespace)
    if isinstance(node, list):
        return [_expand(branch, definitions, seen, namespace) for branch in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if kind in ("record", "error", "enum", "fixed"):
        full = _full_name(node, namespace)
        seen.add(full)
        inner_namespace = full.rpartition(".")[0] or None
        copied = dict(node)
        if kind in ("record", "error"):
            copied["fields"] = [
                {**field, "type": _expand(field["type"], definitions, seen, inner_namespace)}
                for field in node["fields"]
            ]
        return copied
    if kind == "array":
        return {**node, "items": _expand(node["items"], definitions, seen, namespace)}
    if kind == "map":
        return {**node, "values": _expand(node["values"], definitions, seen, namespace)}
    if isinstance(kind, (dict, list, str)) and kind not in _PRIMITIVES:
        return {**node, "type": _expand(kind, definitions, seen, namespace)}
    return node


def _version(full_name: str, version: int, expanded: Json) -> SchemaVersion:
    try:
        parsed = parse_schema(expanded)
    except Exception as exc:  # fastavro raises several unrelated types for a bad schema
        raise SchemaDefinitionError(f"{full_name} v{version} does not parse: {exc}") from exc
    canonical = to_parsing_canonical_form(parsed)
    return SchemaVersion(
        full_name=full_name,
        version=version,
        expanded=expanded,
        parsed=parsed,
        canonical=canonical,
        fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
    )


class SchemaRepository:
    """Every record schema of ``avro/``, current and historical, by name and by fingerprint."""

    def __init__(self, directory: Path = AVRO_DIR) -> None:
        self.directory = directory
        self.definitions: dict[str, Json] = {}
        for path in sorted(directory.glob("*.avsc")):
            schema = self._read(path)
            full = _full_name(schema, None)
            if path.name != f"{full}.avsc":
                raise SchemaDefinitionError(f"{path}: defines {full}, so must be named {full}.avsc")
            self.definitions[full] = schema
        self._history: dict[str, list[SchemaVersion]] = {}
        for path in sorted((directory / HISTORY_DIR_NAME).glob("*.avsc")):
            match = _HISTORY_FILE.match(path.name)
            if not match:
                raise SchemaDefinitionError(
                    f"{path}: history files are named <full name>.v<N>.avsc"
                )
            schema = self._read(path)
            full, version = match["name"], int(match["version"])
            if _full_name(schema, None) != full:
                raise SchemaDefinitionError(f"{path}: defines {_full_name(schema, None)}")
            self._history.setdefault(full, []).append(
                _version(full, version, _expand(schema, self.definitions, set(), None))
            )
        self.current: dict[str, SchemaVersion] = {}
        for full, schema in self.definitions.items():
            if schema.get("type") not in ("record", "error"):
                continue
            older = self._history.get(full, [])
            number = max((v.version for v in older), default=0) + 1
            self.current[full] = _version(
                full, number, _expand(full, self.definitions, set(), None)
            )
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        for known in self.all_versions():
            clash = self._by_fingerprint.get(known.fingerprint)
            if clash and clash.full_name != known.full_name:
                raise SchemaDefinitionError(
                    f"{known.full_name} v{known.version} and {clash.full_name} share the "
                    f"fingerprint {known.fingerprint_hex}"
                )
            self._by_fingerprint.setdefault(known.fingerprint, known)

    @staticmethod
    def _read(path: Path) -> Json:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SchemaDefinitionError(f"{path}: cannot read schema: {exc}") from exc

    def get(self, full_name: str) -> SchemaVersion:
        """The current version of a record; SchemaDefinitionError names an unknown one."""
        try:
            return self.current[full_name]
        except KeyError:
            raise SchemaDefinitionError(
                f"no record schema named {full_name!r} in {self.directory}"
            ) from None

    def by_fingerprint(self, fp: bytes) -> SchemaVersion | None:
        """The version (current or historical) with this fingerprint, or None."""
        return self._by_fingerprint.get(fp)

    def history(self, full_name: str) -> list[SchemaVersion]:
        """Superseded versions of a record, oldest first."""
        return sorted(self._history.get(full_name, []), key=lambda v: v.version)

    def all_versions(self) -> Iterator[SchemaVersion]:
        """Every known version of every record, current ones last."""
        for versions in self._history.values():
            yield from versions
        yield from self.current.values()

    def event_names(self) -> list[str]:
        """Records that are events: they carry ``event_id`` and ``source``."""
        names = []
        for full, version in sorted(self.current.items()):
            fields = [field["name"] for field in version.expanded["fields"]]
            if fields[:2] == ["event_id", "source"]:
                names.append(full)
        return names


@cache
def repository() -> SchemaRepository:
    """The repository of the project's own ``avro/`` folder, loaded once per process."""
    return SchemaRepository()


LOCK_FILE_NAME = "fingerprints.json"


def lock_contents(schemas: SchemaRepository) -> dict[str, dict[str, Any]]:
    """What ``avro/fingerprints.json`` should say: each record's version and fingerprint."""
    return {
        name: {"version": v.version, "fingerprint": v.fingerprint_hex}
        for name, v in sorted(schemas.current.items())
    }


def read_lock(directory: Path = AVRO_DIR) -> dict[str, dict[str, Any]]:
    """The committed lock: what every record looked like when it was last released."""
    path = directory / LOCK_FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaDefinitionError(f"{path}: cannot read the fingerprint lock: {exc}") from exc
    if not isinstance(data, dict):
        raise SchemaDefinitionError(f"{path}: expected an object of record names")
    return data


def write_lock(schemas: SchemaRepository) -> Path:
    """Record the current versions and fingerprints (after an archived, compatible change)."""
    path = schemas.directory / LOCK_FILE_NAME
    path.write_text(json.dumps(lock_contents(schemas), indent=2) + "\n", encoding="utf-8")
    return path


def archive(schemas: SchemaRepository, full_name: str) -> Path:
    """Keep the current version of a record in ``history/`` before it is edited.

    Bytes written with it stay decodable, and the compatibility test checks the next version
    against it.
    """
    current = schemas.get(full_name)
    history = schemas.directory / HISTORY_DIR_NAME
    history.mkdir(exist_ok=True)
    path = history / f"{full_name}.v{current.version}.avsc"
    if path.exists():
        raise SchemaDefinitionError(f"{path} exists already: {full_name} is archived")
    path.write_text(json.dumps(current.expanded, indent=2) + "\n", encoding="utf-8")
    return path
