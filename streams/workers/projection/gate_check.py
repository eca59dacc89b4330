"""``iotrack gate-check``: the projected verdict of one unit."""

from __future__ import annotations

from typing import Any

import psycopg2
import psycopg2.extensions

from streams.ops import metrics


def gate_check(database_url: str, itu_key: str) -> dict[str, Any] | None:
    """The projected verdict for an ITU key, or None when nothing is bound to it."""
    with (
        metrics.GATE_CHECK.time(),
        psycopg2.connect(database_url, connect_timeout=10) as db,
        db.cursor() as cursor,
    ):
        cursor.execute(
            "SELECT iot_id, verdict, may_leave, mrns_pending, open_holds, reasons, "
            "as_of, carried FROM clearance_by_itu WHERE itu_key = %s",
            (itu_key,),
        )
        row = cursor.fetchone()
    if row is None:
        return None
    iot_id, verdict, may_leave, pending, holds, reasons, as_of, carried = row
    return {
        "itu": itu_key,
        "iot_id": str(iot_id) if iot_id else None,
        "verdict": verdict,
        "may_leave": may_leave,
        "mrns_pending": pending,
        "open_holds": holds,
        "reasons": reasons,
        "as_of": as_of.isoformat(),
        "carried": carried or [],
    }
