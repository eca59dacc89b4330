"""Write :mod:`streams.http.enums` from the Avro enums in ``avro/``, so the HTTP models use the
very symbols the events carry instead of a copy typed again.

Run ``make enums`` (``python -m streams.http.avro_enums``) after changing an enum in ``avro/``;
``tests/streams/http/test_models.py`` fails while the committed module differs from what this
writes.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from topics.schemas import AVRO_DIR

TARGET = Path(__file__).resolve().parent / "enums.py"
PRIVATE_NAMESPACE = "iotrack.state"
"""The tracking core's own changelog records (``avro/iotrack.state.*``): read by the core alone,
never part of an HTTP answer, so their enums are not generated."""


def _enums(node: Any) -> Iterator[dict[str, Any]]:
    """Every enum defined in a schema document, nested ones included."""
    if isinstance(node, dict):
        if node.get("type") == "enum":
            yield node
        for value in node.values():
            yield from _enums(value)
    elif isinstance(node, list):
        for value in node:
            yield from _enums(value)


def enums(directory: Path = AVRO_DIR) -> dict[str, dict[str, Any]]:
    """The Avro enums of the public contracts by full name (``iotrack.Agency`` ...), in name
    order; those of the core's changelog (``iotrack.state``) are left out."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.avsc")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("namespace") == PRIVATE_NAMESPACE:
            continue
        for enum in _enums(document):
            name = enum["name"] if "." in enum["name"] else f"iotrack.{enum['name']}"
            found[name] = enum
    return dict(sorted(found.items()))


def source(directory: Path = AVRO_DIR) -> str:
    """The text of ``streams/http/enums.py``."""
    lines = [
        '"""The Avro enums of ``avro/`` as Python enums for the HTTP models (generated: do not',
        'edit; ``make enums`` writes it from the schemas, and a test checks it is current)."""',
        "",
        "from __future__ import annotations",
        "",
        "from enum import StrEnum",
    ]
    for full_name, enum in enums(directory).items():
        doc = " ".join(str(enum.get("doc", full_name)).split()).replace('"""', "'''")
        wrapped = textwrap.wrap(f"{full_name}: {doc}", 92)
        lines += ["", "", f"class {full_name.rsplit('.', 1)[1]}(StrEnum):"]
        if len(wrapped) == 1:
            lines.append(f'    """{wrapped[0]}"""')
        else:
            lines.append(f'    """{wrapped[0]}')
            lines += [f"    {line}" for line in wrapped[1:]]
            lines.append('    """')
        lines.append("")
        lines += [f'    {symbol} = "{symbol}"' for symbol in enum["symbols"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    TARGET.write_text(source(), encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
