"""The files train operators and the rail exit portal hand us, turned into event values.

Formats (the README's rail section shows examples):

- Loading list, CSV with a header: ``unit`` (required), ``kind`` (CONTAINER, ILU, SWAP_BODY,
  PLATE, ...; guessed from the code when empty), ``country`` (plates only), ``mrn`` (optional).
  JSON: ``{"items": [{"unit": ..., "kind": ..., "country": ..., "mrn": ...}, ...]}`` or the
  bare list.
- Manifest, CSV with a header, one row per unit (a wagon with no unit: a row with ``unit``
  empty): ``position``, ``wagon_number``, ``unit``, ``kind``, ``country``, ``mrn``,
  ``transport_document``; the MRNs of a wagon are the union of its rows'. JSON:
  ``{"wagons": [{"position": 1, "wagon_number": ..., "units": [{"unit": ..., "kind": ...,
  "mrn": ...}], "mrns": [...], "transport_document": ...}]}``. A unit's own MRN (a CSV row's
  ``mrn``, a JSON unit's ``mrn``) covers that unit; the wagon's MRNs cover the units without
  one.
- CSV files may separate fields with commas or semicolons and may start with a byte-order mark.
- Rail portal reads, JSON lines, one per wagon as the OCR portal reports it:
  ``{"wagon": {"number": ..., "position": N}, "containers": [{"code": ..., "confidence": ...}],
  "ilus": [...]}``.

Whose train it is (the operator, the train) is not in these formats: the sender says it
(``iotrack rail --operator --train``; in the web console, the signed-in operator and the
form's train). A file that names them all the same (``operator`` and ``train_id`` or ``train``:
a JSON object's keys, CSV columns; a record as on the wire, ``iotrack rail --json`` output) is
refused unless it names the very operator and train it is sent for (``check_claims``).

Nothing is validated here beyond the file's shape: the core answers on identifiers and MRNs,
so an operator learns every problem at once. A shape error names the line (CSV rows count from
the header as line 1) and the column or field.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from processors.identifiers import KINDS
from readers.errors import ReadersError

_KINDS = ("CONTAINER", "ILU", "SWAP_BODY", "PLATE", "SEAL", "WAGON")


class RailFileError(ReadersError, ValueError):
    """A file that is not a loading list, manifest or portal read as documented."""


def _normal(text: object) -> str:
    return "".join(ch for ch in str(text or "").upper() if ch.isalnum())


def _itu(unit: object, kind: object, country: object, where: str) -> dict[str, Any]:
    value = _normal(unit)
    if not value:
        raise RailFileError(f"{where}: the unit code is empty")
    name = str(kind or "").strip().upper()
    if not name:
        # The ILU owner code's fourth letter is A, B, D, E or K; containers use U, J or Z.
        name = "ILU" if KINDS["ilu"].is_valid(value) else "CONTAINER"
    if name not in _KINDS:
        raise RailFileError(f"{where}: kind {kind!r} is not one of {', '.join(_KINDS)}")
    return {
        "kind": name,
        "value": value,
        "country": _normal(country) or ("IT" if name == "PLATE" else None),
        "seal_class": None,
        "issuer": None,
    }


def _rows(text: str, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    text = text.removeprefix("\ufeff")  # the byte-order mark spreadsheets write
    header_line = text.split("\n", 1)[0]
    # Spreadsheets set to Italian (and most of Europe) separate fields with semicolons.
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in reader.fieldnames or ()]
        missing = [c for c in required if c not in header]
        if missing:
            raise RailFileError(f"line 1: the header lacks the column(s) {', '.join(missing)}")
        rows = []
        for row in reader:
            cleaned = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k}
            if any(cleaned.values()):
                rows.append((reader.line_num, cleaned))
    except csv.Error as exc:
        raise RailFileError(f"line {reader.line_num}: not CSV: {exc}") from exc
    return rows


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RailFileError(f"line {exc.lineno}, column {exc.colno}: not JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise RailFileError("not JSON this module takes: nested too deeply") from exc


def is_json(text: str) -> bool:
    """Whether the text is JSON rather than CSV (by its first character)."""
    return text.lstrip()[:1] in ("{", "[")


def loading_list_items(text: str) -> list[dict[str, Any]]:
    """The items of a loading list file (CSV or JSON).

    >>> loading_list_items("unit,mrn\\nCSQU 305438-3,\\n")[0]["itu"]["value"]
    'CSQU3054383'
    >>> loading_list_items("mrn\\n26IT\\n")
    Traceback (most recent call last):
    ...
    readers.rail_files.RailFileError: line 1: the header lacks the column(s) unit
    """
    if is_json(text):
        data = _json(text)
        items = data.get("items") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise RailFileError('JSON: expected a list of items or {"items": [...]}')
        found = []
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise RailFileError(f"items[{n}]: expected an object")
            where = f"items[{n}]"
            found.append(
                {
                    "itu": _itu(item.get("unit"), item.get("kind"), item.get("country"), where),
                    "mrn": _normal(item.get("mrn")) or None,
                }
            )
        return found
    return [
        {
            "itu": _itu(row.get("unit"), row.get("kind"), row.get("country"), f"line {n}"),
            "mrn": _normal(row.get("mrn")) or None,
        }
        for n, row in _rows(text, ("unit",))
    ]


CLAIMS: dict[str, tuple[str, ...]] = {"operator": ("operator",), "train": ("train_id", "train")}
"""The fields a file may name its operator and its train with (``claims``)."""


def _claimed(value: object, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RailFileError(f"{where}: expected a text")
    return str(value).strip()


def claims(text: str) -> dict[str, tuple[str, ...]]:
    """Whose train a loading list or manifest file says it is, if it says so: the distinct
    values of its operator fields and of its train fields (``CLAIMS``), in the order they come;
    a JSON object's own keys, a CSV file's columns (every row). Empty for the documented
    formats, which name neither.

    >>> claims('{"operator": "op-two", "train_id": "IT-1", "items": []}')
    {'operator': ('op-two',), 'train': ('IT-1',)}
    >>> claims("unit,operator\\nCSQU3054383,op-one\\nTCNU7200794,op-two\\nMSKU6011672,\\n")
    {'operator': ('op-one', 'op-two'), 'train': ()}
    >>> claims("unit,mrn\\nCSQU3054383,\\n"), claims("[]")
    ({'operator': (), 'train': ()}, {'operator': (), 'train': ()})
    """
    found: dict[str, dict[str, None]] = {what: {} for what in CLAIMS}
    if is_json(text):
        data = _json(text)
        if isinstance(data, dict):
            for what, names in CLAIMS.items():
                for name in names:
                    if data.get(name) is not None:
                        found[what][_claimed(data[name], name)] = None
    else:
        for n, row in _rows(text, ()):
            for what, names in CLAIMS.items():
                for name in names:
                    if row.get(name):
                        found[what][_claimed(row[name], f"line {n}, column {name}")] = None
    return {what: tuple(v for v in values if v) for what, values in found.items()}


def check_claims(text: str, *, operator: str, train_id: str) -> None:
    """RailFileError when the file names an operator or a train (``claims``) other than the
    ones it is sent for: the operator the sender signed in as and the train it gave.

    >>> check_claims('{"operator": "op-two", "wagons": []}', operator="op-one", train_id="IT-1")
    Traceback (most recent call last):
    ...
    readers.rail_files.RailFileError: the file names rail operator op-two: it is sent for op-one, \
and an operator sends its own trains only
    >>> check_claims("unit,train_id\\nCSQU3054383,IT-1\\n", operator="op-one", train_id="IT-1")
    """
    found = claims(text)
    others = [o for o in found["operator"] if o.lower() != operator.lower()]
    if others:
        raise RailFileError(
            f"the file names rail operator {', '.join(others)}: it is sent for {operator}, and "
            "an operator sends its own trains only"
        )
    trains = [t for t in found["train"] if t != train_id]
    if trains:
        raise RailFileError(
            f"the file names train {', '.join(trains)}, and it is sent for train {train_id}: "
            "send it for the train it names, or leave the train out of the file"
        )


def _position(value: object, where: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise RailFileError(f"{where}: position {value!r} is not a whole number") from None


def _units(entry: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """A JSON wagon's units, under ``units`` (or ``itus``, as on the wire)."""
    units = entry.get("units", entry.get("itus")) or []
    if not isinstance(units, list) or not all(isinstance(u, dict) for u in units):
        raise RailFileError(f"{where}.units: expected a list of objects")
    return units


def _wagon_mrns(entry: dict[str, Any], where: str) -> list[Any]:
    """A JSON wagon's own ``mrns`` (covering its units without one of their own)."""
    mrns = entry.get("mrns") or []
    if not isinstance(mrns, list):
        raise RailFileError(f"{where}.mrns: expected a list of MRNs")
    return mrns


def manifest_wagons(text: str) -> list[dict[str, Any]]:
    """The wagons of a manifest file (CSV or JSON), in the order of their positions."""
    wagons: dict[int, dict[str, Any]] = {}
    if is_json(text):
        data = _json(text)
        listed = data.get("wagons") if isinstance(data, dict) else data
        if not isinstance(listed, list):
            raise RailFileError('JSON: expected {"wagons": [...]}')
        for n, entry in enumerate(listed):
            where = f"wagons[{n}]"
            if not isinstance(entry, dict):
                raise RailFileError(f"{where}: expected an object")
            position = _position(entry.get("position", n + 1), where)
            if position in wagons:
                raise RailFileError(f"{where}: position {position} appears twice")
            wagons[position] = {
                "position": position,
                "wagon_number": _normal(entry.get("wagon_number")),
                "itus": [
                    _itu(
                        u.get("unit", u.get("value")),
                        u.get("kind"),
                        u.get("country"),
                        f"{where}.units[{k}]",
                    )
                    for k, u in enumerate(_units(entry, where))
                ],
                "mrns": list(
                    dict.fromkeys(
                        _normal(m)
                        for m in [
                            *_wagon_mrns(entry, where),
                            *(u.get("mrn") for u in _units(entry, where)),
                        ]
                        if _normal(m)
                    )
                ),
                "mrns_by_itu": {
                    _normal(u.get("unit", u.get("value"))): [_normal(u["mrn"])]
                    for u in _units(entry, where)
                    if _normal(u.get("mrn"))
                },
                "transport_document": entry.get("transport_document") or None,
            }
    else:
        for n, row in _rows(text, ("position", "wagon_number", "unit")):
            position = _position(row.get("position"), f"line {n}")
            number = _normal(row.get("wagon_number"))
            wagon = wagons.setdefault(
                position,
                {
                    "position": position,
                    "wagon_number": number,
                    "itus": [],
                    "mrns": [],
                    "mrns_by_itu": {},
                    "transport_document": None,
                },
            )
            if wagon["wagon_number"] != number:
                raise RailFileError(
                    f"line {n}: position {position} is wagon {wagon['wagon_number']} on an "
                    f"earlier line, {number} here"
                )
            if row.get("unit"):
                wagon["itus"].append(
                    _itu(row.get("unit"), row.get("kind"), row.get("country"), f"line {n}")
                )
            mrn = _normal(row.get("mrn"))
            if mrn and mrn not in wagon["mrns"]:
                wagon["mrns"].append(mrn)
            if mrn and row.get("unit"):
                wagon["mrns_by_itu"].setdefault(_normal(row["unit"]), []).append(mrn)
            wagon["transport_document"] = (
                row.get("transport_document") or wagon["transport_document"]
            )
    if not wagons:
        raise RailFileError("the manifest lists no wagon")
    return [wagons[p] for p in sorted(wagons)]


def portal_wagons(text: str) -> list[dict[str, Any]]:
    """The detected wagons of a rail portal's JSON lines (one wagon per line)."""
    wagons = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
            wagon = document["wagon"]
            reads = [*document.get("containers", ()), *document.get("ilus", ())]
            wagons.append(
                {
                    "position": int(wagon["position"]),
                    "wagon_number_read": str(wagon["number"]),
                    "itus_read": [str(r["code"]) for r in reads],
                    "confidence": min((float(r["confidence"]) for r in reads), default=None),
                }
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise RailFileError(f"line {number}: not a rail portal wagon read: {exc!r}") from exc
        except RecursionError as exc:
            raise RailFileError(f"line {number}: not JSON: nested too deeply") from exc
    if not wagons:
        raise RailFileError("the portal file holds no wagon")
    return sorted(wagons, key=lambda w: w["position"])
