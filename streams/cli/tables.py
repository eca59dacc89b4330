"""Plain-text tables for the command line: columns padded to their widest cell."""

from __future__ import annotations

from collections.abc import Sequence


def table(rows: Sequence[Sequence[str]]) -> str:
    """The rows (the first is the header) as lines of left-aligned columns, two spaces apart.

    >>> print(table([["unit", "ready"], ["CONTAINER:CSQU3054383", "yes"]]))
    unit                   ready
    CONTAINER:CSQU3054383  yes
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Print ``table(rows)``."""
    print(table(rows))
