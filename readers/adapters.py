"""Gate reader adapters: device payloads (JSON) in, raw sensor read events out.

Each adapter checks the payload's shape and turns it into ``iotrack.RawRead`` values (plain
Avro shape: Unix milliseconds, UUID text). It does not judge identifiers: a misread container
code is still a read, repaired or flagged later by passage fusion. What cannot be understood at
all raises ``PayloadError`` with the JSON path of the problem, and the caller dead-letters it.

Event ids are deterministic (``processors.ids``): the same payload sent twice yields the same
read ids, so a device retry or a spool replay is recognised downstream. The device formats are
documented in ``readers/README.md``.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from processors.identifiers import mrn
from processors.ids import deterministic_uuid7
from readers.errors import PayloadError

Json = Any
DIRECTIONS = ("IN", "OUT", "UNKNOWN")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""A read's time must fall in [EARLIEST, LATEST): anything else is a device clock (or payload)
that is wrong, refused here rather than by a consumer that cannot represent it."""
EARLIEST_MS = (EARLIEST - _EPOCH) // timedelta(milliseconds=1)
LATEST_MS = (LATEST - _EPOCH) // timedelta(milliseconds=1)
MAX_ANTENNA = 2**31 - 1


@dataclass(frozen=True)
class ReadPoint:
    """Where a reader is: its read point and the logistic node it belongs to."""

    read_point_id: str
    node_id: str


def _no_constant(name: str) -> Json:
    raise ValueError(f"{name} is not a JSON number")


def _load(payload: bytes) -> Mapping[str, Json]:
    try:
        document = json.loads(payload, parse_constant=_no_constant)
    except RecursionError:
        raise PayloadError("not JSON this reader takes: nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadError(f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise PayloadError(f"$: expected a JSON object, got {type(document).__name__}")
    _check_text(document, "")
    return document


def _check_text(value: Json, where: str) -> None:
    """Every string and key is Unicode text that UTF-8 can carry: JSON's escapes allow a lone
    surrogate (``"\\ud800"``), which no record downstream can encode."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            shown = value.encode("utf-8", "backslashreplace").decode()[:80]
            raise PayloadError(
                f'{where or "$"}: not Unicode text (a lone surrogate escape): "{shown}"'
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"{where}{'.' if where else ''}<key>")
            _check_text(item, f"{where}{'.' if where else ''}{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _check_text(item, f"{where}[{n}]")


def _text(
    document: Mapping[str, Json], key: str, where: str, *, required: bool = True
) -> str | None:
    value = document.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"{where}{key}: expected a non-empty string, got {_shown(value)}")
    return value.strip()


def _time_ms(document: Mapping[str, Json], key: str, where: str) -> int:
    value = document.get(key)
    if isinstance(value, bool):
        raise PayloadError(f"{where}{key}: expected an ISO 8601 time or Unix milliseconds")
    if isinstance(value, int):
        return _in_range(value, value, where + key)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            try:
                ms = (parsed - _EPOCH) // timedelta(milliseconds=1)
            except OverflowError:  # 0001-01-01T00:00:00+14:00 is before datetime.min in UTC
                ms = EARLIEST_MS - 1
            return _in_range(ms, value, where + key)
        if parsed is not None:
            raise PayloadError(f"{where}{key}: {value!r} has no time zone (add Z or +01:00)")
    raise PayloadError(
        f"{where}{key}: expected an ISO 8601 time or Unix milliseconds, got {_shown(value)}"
    )


def _in_range(ms: int, given: object, where: str) -> int:
    if not EARLIEST_MS <= ms < LATEST_MS:
        raise PayloadError(
            f"{where}: {_shown(given)} is outside the times a read may have "
            f"({EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}, UTC): is the device's clock set?"
        )
    return ms


def _shown(value: object) -> str:
    """A value for a message: its repr, cut (a payload's value may be megabytes long)."""
    text = repr(value)
    return text if len(text) <= 120 else text[:100] + f"... ({len(text)} characters)"


def _confidence(document: Mapping[str, Json], where: str) -> float | None:
    value = document.get("confidence")
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and 0.0 <= value <= 1.0)
    ):
        raise PayloadError(f"{where}confidence: expected a number from 0 to 1, got {_shown(value)}")
    return float(value)


def _direction(document: Mapping[str, Json]) -> str:
    value = document.get("direction", "UNKNOWN")
    if value not in DIRECTIONS:
        raise PayloadError(
            f"direction: expected one of {', '.join(DIRECTIONS)}, got {_shown(value)}"
        )
    return str(value)


def _list(document: Mapping[str, Json], key: str, where: str = "") -> list[Json]:
    value = document.get(key) or []
    if not isinstance(value, list):
        raise PayloadError(f"{where}{key}: expected a list, got {type(value).__name__}")
    return value


def _object(value: Json, where: str) -> Mapping[str, Json]:
    if not isinstance(value, dict):
        raise PayloadError(f"{where}: expected an object, got {type(value).__name__}")
    return value


class _Builder:
    """Common fields of the reads made from one payload, and their deterministic ids."""

    def __init__(self, payload: bytes, document: Mapping[str, Json], point: ReadPoint) -> None:
        self.point = point
        self.device = str(_text(document, "device_id", ""))
        given = document.get("read_point")
        if given is not None and given != point.read_point_id:
            raise PayloadError(
                f"read_point: payload is for {_shown(given)}, this reader serves "
                f"{point.read_point_id!r}"
            )
        self.lane = _text(document, "lane", "", required=False)
        self.direction = _direction(document)
        reference = document.get("passage_ref")
        self.payload_ref = (
            str(reference) if reference is not None else hashlib.sha256(payload).hexdigest()[:32]
        )
        self.reads: list[dict[str, Any]] = []

    def add(
        self,
        at: int,
        sensor: str,
        raw_value: str,
        *,
        itu_kind: str | None,
        candidates: list[dict[str, Any]] | None = None,
        image: str | None = None,
        antenna: int | None = None,
        rssi: float | None = None,
        country: str | None = None,
    ) -> None:
        index = len(self.reads)
        self.reads.append(
            {
                "event_id": deterministic_uuid7(
                    at, "read", self.point.read_point_id, self.device, self.payload_ref, str(index)
                ),
                "source": self.device,
                "occurred_at": at,
                "reader_id": self.device,
                "read_point_id": self.point.read_point_id,
                "node_id": self.point.node_id,
                "sensor": sensor,
                "lane": self.lane,
                "raw_value": raw_value,
                "candidates": candidates or [],
                "direction": self.direction,
                "image_ref": image,
                "payload_ref": self.payload_ref,
                "itu_kind": itu_kind,
                "antenna": antenna,
                "rssi": rssi,
                "country": country,
            }
        )


def parse_ocr(payload: bytes, point: ReadPoint) -> list[dict[str, Any]]:
    """An OCR portal's passage record: container/ILU codes, plates, seals, images."""
    document = _load(payload)
    build = _Builder(payload, document, point)
    at = _time_ms(document, "captured_at", "")
    images = [str(i) for i in _list(document, "images") if isinstance(i, str)]
    image = images[0] if images else None
    for key, kind in (("containers", "CONTAINER"), ("ilus", "ILU")):
        for n, item in enumerate(_list(document, key)):
            where = f"{key}[{n}]."
            unit = _object(item, f"{key}[{n}]")
            code = str(_text(unit, "code", where))
            candidates = [{"value": code, "confidence": _confidence(unit, where) or 0.0}]
            for m, alternative in enumerate(_list(unit, "candidates", where)):
                alt = _object(alternative, f"{where}candidates[{m}]")
                alt_where = f"{where}candidates[{m}]."
                candidates.append(
                    {
                        "value": str(_text(alt, "code", alt_where)),
                        "confidence": _confidence(alt, alt_where) or 0.0,
                    }
                )
            build.add(at, "OCR", code, itu_kind=kind, candidates=candidates, image=image)
    rail_wagon = document.get("wagon")
    if rail_wagon is not None:
        number = str(_text(_object(rail_wagon, "wagon"), "number", "wagon."))
        build.add(at, "OCR", number, itu_kind="WAGON", image=image)
    for key in ("truck_plate", "trailer_plate"):
        plate = document.get(key)
        if plate is None:
            continue
        where = f"{key}."
        fields = _object(plate, key)
        country = _text(fields, "country", where, required=False)
        if country is not None and (len(country) != 2 or not country.isalpha()):
            raise PayloadError(
                f"{where}country: expected an ISO 3166 alpha-2 code, got {_shown(country)}"
            )
        text = str(_text(fields, "text", where))
        confidence = _confidence(fields, where)
        candidates = [{"value": text, "confidence": confidence}] if confidence is not None else []
        build.add(
            at,
            "OCR",
            text,
            itu_kind="PLATE",
            candidates=candidates,
            image=image,
            country=country.upper() if country else None,
        )
    for n, item in enumerate(_list(document, "seals")):
        seal = _object(item, f"seals[{n}]")
        if seal.get("present") is False:
            continue
        seal_text = _text(seal, "text", f"seals[{n}].", required=False)
        if seal_text:
            build.add(at, "OCR", seal_text, itu_kind="SEAL", image=image)
    if not build.reads:
        raise PayloadError("the payload names no container, ILU, wagon, plate or seal")
    return build.reads


def parse_rfid(payload: bytes, point: ReadPoint) -> list[dict[str, Any]]:
    """An RFID portal's tag reads for one passage (ISO 10891 container tags, e-seals)."""
    document = _load(payload)
    build = _Builder(payload, document, point)
    reads = _list(document, "reads")
    if not reads:
        raise PayloadError("reads: expected at least one tag read")
    for n, item in enumerate(reads):
        where = f"reads[{n}]."
        read = _object(item, f"reads[{n}]")
        at = _time_ms(read, "at", where)
        tag = _object(read.get("tag"), f"{where}tag")
        antenna = read.get("antenna")
        if antenna is not None and (
            isinstance(antenna, bool)
            or not isinstance(antenna, int)
            or not 0 <= antenna <= MAX_ANTENNA
        ):
            raise PayloadError(
                f"{where}antenna: expected an antenna number from 0 to {MAX_ANTENNA}, "
                f"got {_shown(antenna)}"
            )
        rssi = read.get("rssi")
        if rssi is not None and (
            isinstance(rssi, bool)
            or not isinstance(rssi, (int, float))
            or not math.isfinite(float(rssi))
        ):
            raise PayloadError(f"{where}rssi: expected a number (dBm), got {_shown(rssi)}")
        tag_type = tag.get("type")
        if tag_type == "iso10891":
            value, kind = str(_text(tag, "container", f"{where}tag.")), "CONTAINER"
        elif tag_type == "eseal":
            value, kind = str(_text(tag, "id", f"{where}tag.")), "SEAL"
        else:
            raise PayloadError(
                f"{where}tag.type: expected 'iso10891' or 'eseal', got {_shown(tag_type)}"
            )
        build.add(
            at,
            "RFID",
            value,
            itu_kind=kind,
            antenna=antenna,
            rssi=float(rssi) if rssi is not None else None,
        )
    return build.reads


def parse_barcode(payload: bytes, point: ReadPoint) -> list[dict[str, Any]]:
    """A barcode / QR scan: an IOT_ID as UUID text, or an MRN."""
    document = _load(payload)
    build = _Builder(payload, document, point)
    at = _time_ms(document, "scanned_at", "")
    data = str(_text(document, "data", ""))
    if not _is_uuid(data):
        try:
            mrn.validate(data)
        except ValueError as exc:
            raise PayloadError(
                f"data: {_shown(data)} is neither an IOT_ID (UUID) nor a valid MRN ({exc})"
            ) from exc
    build.add(at, "BARCODE", data, itu_kind=None)
    return build.reads


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


PARSERS: dict[str, Callable[[bytes, ReadPoint], list[dict[str, Any]]]] = {
    "ocr": parse_ocr,
    "rfid": parse_rfid,
    "barcode": parse_barcode,
}
