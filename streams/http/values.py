"""How database values appear in answers: times in ISO 8601 UTC, verdict rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ms_iso(ms: int | None) -> str | None:
    return None if ms is None else iso(datetime.fromtimestamp(ms / 1000, tz=UTC))


def verdict_json(row: tuple[Any, ...] | list[Any]) -> dict[str, Any]:
    verdict, may_leave, pending, holds, reasons, as_of = row
    return {
        "verdict": verdict,
        "may_leave": may_leave,
        "mrns_pending": list(pending),
        "open_holds": [{**h, "placed_at": ms_iso(h.get("placed_at"))} for h in (holds or [])],
        "reasons": list(reasons),
        "as_of": iso(as_of),
    }
