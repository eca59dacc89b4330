"""Passage fusion: the sensor reads of one physical passage at one read point become one event.

A truck through an OCR+RFID portal yields several OCR frames and dozens of RFID tag reads; a
rail wagon, a barcode scan. Reads at the same read point and lane that follow each other within
``gap_ms`` (event time) belong to one passage. The passage keeps per-sensor evidence (what each
sensor read, how often, when, with what confidence and what the OCR repair made of it) and an
agreement flag: when OCR and RFID name different containers both values are kept and
``sensors_agree`` is false.

Everything is event time: a passage closes when a later read on the same lane falls outside the
gap, when the watermark (the newest read time seen) passes its end by the gap, or when the
caller flushes with a time of its choosing (an idle gate). A replay of the same reads in the
same order yields the same passages with the same ids (``processors.ids``).

Reads are typed (``processors.events.RawRead``); passages are plain Avro-shaped dicts (timestamps
in Unix milliseconds, UUIDs as text), ready to encode.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from processors import identifiers
from processors.events import RawRead
from processors.identifiers.itu import CHECKED_BY
from processors.ids import deterministic_uuid7
from processors.ocr_repair import Candidate, Outcome, repair

PASSAGE_SOURCE = "iotrack-fusion"
_REPAIRABLE = {kind: CHECKED_BY[kind] for kind in ("CONTAINER", "ILU")}
"""The kinds whose ISO 6346 check digit OCR repair works with, and their identifier modules."""


@dataclass(frozen=True)
class FusionConfig:
    """How reads are grouped into passages."""

    gap_ms: int = 4_000
    """Reads on one lane further apart than this are different passages."""
    max_passage_ms: int = 60_000
    """A lane blocked for longer (a parked truck) still yields a passage per this span."""
    lateness_ms: int = 10_000
    """How far behind the newest read another sensor's read may arrive and still join its
    passage: the OCR and the RFID reader of one portal publish independently."""


@dataclass(frozen=True)
class OpenPassage:
    """Reads collected so far for one passage at one lane of one read point."""

    read_point_id: str
    lane: str | None
    first_at: int
    last_at: int
    reads: tuple[RawRead, ...]

    @property
    def first_event_id(self) -> str:
        """The id of the read that opened it: with the lane, it names the passage."""
        return self.reads[0].event_id


LaneKey = tuple[str, str]


@dataclass(frozen=True)
class FusionState:
    """Open passages per (read point, lane), oldest first; the newest read time per read point;
    and per lane the end of the last passage emitted. A read at or before that end belongs to a
    passage already out (very late, or replayed after a restart) and is dropped rather than
    made into a passage of its own."""

    open: Mapping[LaneKey, tuple[OpenPassage, ...]] = field(default_factory=dict)
    watermarks: Mapping[str, int] = field(default_factory=dict)
    """Newest read time per read point: reads are ordered per read point (its partition), not
    across read points, so each read point's passages close on its own clock."""
    emitted_until: Mapping[LaneKey, int] = field(default_factory=dict)
    late_reads: int = 0
    """Reads that came too late to join their passage (counted, not fused)."""

    def open_passages(self) -> list[OpenPassage]:
        """Every open passage, oldest first."""
        return sorted((p for group in self.open.values() for p in group), key=_order)


def _compact(raw: str) -> str:
    """Normalised text of any sensor value: NFKC, upper case, no spaces, hyphens or dots."""
    text = unicodedata.normalize("NFKC", raw).upper()
    return "".join(ch for ch in text if ch not in " \t-./")


def _parse_uuid(text: str) -> str | None:
    try:
        return str(uuid.UUID(hex=text))
    except ValueError:
        return None


def _lane_key(read: RawRead) -> LaneKey:
    return (read.read_point_id, read.lane or "")


def _fits(passage: OpenPassage, at: int, config: FusionConfig) -> bool:
    return (
        passage.first_at - config.gap_ms <= at <= passage.last_at + config.gap_ms
        and max(passage.last_at, at) - min(passage.first_at, at) <= config.max_passage_ms
    )


def advance(
    state: FusionState,
    read: RawRead,
    config: FusionConfig = FusionConfig(),
    expected: Collection[str] = frozenset(),
) -> tuple[FusionState, list[dict[str, Any]]]:
    """Add one raw read; return the new state and the passages it closed (oldest first).

    ``expected`` lists identifiers expected at the read point (pre-advised units, a train's
    loading list); the OCR repair prefers them when the check digit alone cannot decide.
    """
    at = read.occurred_at
    key = _lane_key(read)
    watermark = state.watermarks.get(key[0], at)
    too_late = at + config.gap_ms + config.lateness_ms < watermark
    if too_late or at <= state.emitted_until.get(key, -1):
        # Its passage, if it had one, is out already; the read itself stays on the raw topic.
        return replace(state, late_reads=state.late_reads + 1), []
    lane = list(state.open.get(key, ()))
    if any(r.event_id == read.event_id for p in lane for r in p.reads):
        return state, []  # the same read delivered twice
    fitting = [n for n, p in enumerate(lane) if _fits(p, at, config)]
    if fitting:
        n = min(fitting, key=lambda i: min(abs(at - lane[i].first_at), abs(at - lane[i].last_at)))
        chosen = lane[n]
        lane[n] = replace(
            chosen,
            first_at=min(chosen.first_at, at),
            last_at=max(chosen.last_at, at),
            reads=(*chosen.reads, read),
        )
    else:
        lane.append(OpenPassage(key[0], read.lane, at, at, (read,)))
    open_passages = dict(state.open)
    open_passages[key] = tuple(sorted(lane, key=_order))
    watermark = max(watermark, at)
    watermarks = {**state.watermarks, key[0]: watermark}
    return _close(
        FusionState(open_passages, watermarks, state.emitted_until, state.late_reads),
        lambda p: (
            p.read_point_id == key[0] and p.last_at + config.gap_ms + config.lateness_ms < watermark
        ),
        expected,
    )


def _close(
    state: FusionState, done: Callable[[OpenPassage], bool], expected: Collection[str]
) -> tuple[FusionState, list[dict[str, Any]]]:
    keep: dict[LaneKey, tuple[OpenPassage, ...]] = {}
    closed: list[OpenPassage] = []
    emitted = dict(state.emitted_until)
    for key, group in state.open.items():
        remaining = tuple(p for p in group if not done(p))
        for passage in group:
            if done(passage):
                closed.append(passage)
                emitted[key] = max(emitted.get(key, -1), passage.last_at)
        if remaining:
            keep[key] = remaining
    closed.sort(key=_order)
    passages = [build_passage(p, expected) for p in closed]
    return FusionState(keep, state.watermarks, emitted, state.late_reads), passages


def flush(
    state: FusionState,
    now_ms: int | None = None,
    config: FusionConfig = FusionConfig(),
    expected: Collection[str] = frozenset(),
) -> tuple[FusionState, list[dict[str, Any]]]:
    """Close passages idle for longer than gap and lateness at ``now_ms`` (all when None)."""
    if now_ms is None:
        return _close(state, lambda p: True, expected)
    return _close(
        state, lambda p: p.last_at + config.gap_ms + config.lateness_ms < now_ms, expected
    )


def _order(passage: OpenPassage) -> tuple[int, str, str]:
    return (passage.first_at, passage.read_point_id, passage.lane or "")


@dataclass
class _Evidence:
    sensor: str
    reader_id: str
    itu_kind: str | None
    raw_value: str
    first_at: int
    last_at: int
    read_count: int = 0
    confidence: float | None = None
    candidates: dict[str, float] = field(default_factory=dict)
    country: str | None = None


def _collect(reads: Sequence[RawRead]) -> list[_Evidence]:
    groups: dict[tuple[str, str, str | None, str], _Evidence] = {}
    for read in reads:
        raw = _compact(read.raw_value)
        key = (read.sensor, read.reader_id, read.itu_kind, raw)
        at = read.occurred_at
        evidence = groups.get(key)
        if evidence is None:
            evidence = _Evidence(key[0], key[1], key[2], raw, at, at, country=read.country)
            groups[key] = evidence
        evidence.read_count += 1
        evidence.first_at = min(evidence.first_at, at)
        evidence.last_at = max(evidence.last_at, at)
        for candidate in read.candidates:
            value = _compact(candidate.value)
            confidence = candidate.confidence
            evidence.candidates[value] = max(evidence.candidates.get(value, 0.0), confidence)
            if value == raw:
                evidence.confidence = max(evidence.confidence or 0.0, confidence)
    return sorted(groups.values(), key=lambda e: (e.first_at, e.sensor, e.reader_id, e.raw_value))


def _kind_of(evidence: _Evidence) -> str | None:
    if evidence.itu_kind is not None:
        return evidence.itu_kind
    classified = identifiers.classify(evidence.raw_value)
    return classified.upper() if classified in ("container", "ilu", "wagon") else None


def build_passage(passage: OpenPassage, expected: Collection[str] = frozenset()) -> dict[str, Any]:
    """The Passage event (plain Avro shape) for a closed group of reads."""
    reads = sorted(passage.reads, key=lambda r: (r.occurred_at, r.event_id))
    first = reads[0]
    collected = _collect(reads)
    rfid_units = set()
    for evidence in collected:
        kind = _kind_of(evidence)
        checked = _REPAIRABLE.get(kind or "")
        if (
            evidence.sensor == "RFID"
            and checked
            and identifiers.KINDS[checked].is_valid(evidence.raw_value)
        ):
            rfid_units.add(evidence.raw_value)
    # A unit an RFID tag names in the same passage is the best expectation an OCR read can have.
    expected_here = frozenset(expected) | rfid_units

    evidence_out: list[dict[str, Any]] = []
    found: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    iot_ids: list[str] = []
    mrns: list[str] = []
    ocr_units: set[str] = set()
    for evidence in collected:
        kind, value, outcome = _judge(evidence, expected_here)
        evidence_out.append(
            {
                "sensor": evidence.sensor,
                "reader_id": evidence.reader_id,
                "raw_value": evidence.raw_value,
                "value": value,
                "confidence": evidence.confidence,
                "read_count": evidence.read_count,
                "first_read_at": evidence.first_at,
                "last_read_at": evidence.last_at,
                # An IOT_ID or MRN barcode is not an ITU: it goes to iot_ids / mrns instead.
                "itu_kind": None if kind in ("IOT_ID", "MRN") else kind,
                "repair": outcome,
            }
        )
        if value is None:
            continue
        if kind == "IOT_ID":
            if value not in iot_ids:
                iot_ids.append(value)
        elif kind == "MRN":
            if value not in mrns:
                mrns.append(value)
        elif kind is not None:
            country = evidence.country if kind == "PLATE" else None
            found.setdefault(
                (kind, value, country),
                {
                    "kind": kind,
                    "value": value,
                    "country": country,
                    "seal_class": None,
                    "issuer": None,
                },
            )
            if evidence.sensor == "OCR" and kind in _REPAIRABLE:
                ocr_units.add(value)
    directions = Counter(r.direction for r in reads)
    direction = max(directions, key=lambda d: (directions[d], d != "UNKNOWN"))
    agree = not (ocr_units and rfid_units and ocr_units != rfid_units)
    lane = passage.lane or ""
    return {
        "event_id": deterministic_uuid7(
            passage.first_at, "passage", passage.read_point_id, lane, first.event_id
        ),
        "source": PASSAGE_SOURCE,
        "occurred_at": passage.first_at,
        "read_point_id": passage.read_point_id,
        "node_id": first.node_id,
        "lane": passage.lane,
        "direction": direction,
        "started_at": passage.first_at,
        "ended_at": passage.last_at,
        "identifiers": list(found.values()),
        "iot_ids": iot_ids,
        "evidence": evidence_out,
        "sensors_agree": agree,
        "iso_size_type": None,
        "mrns": mrns,
    }


def _judge(
    evidence: _Evidence, expected: Collection[str]
) -> tuple[str | None, str | None, str | None]:
    """(kind, the identifier value this evidence supports, the repair outcome if one applies)."""
    raw = evidence.raw_value
    if evidence.sensor == "BARCODE":
        return _barcode(raw)
    kind = _kind_of(evidence)
    if kind in _REPAIRABLE:
        module_name = _REPAIRABLE[kind]
        if evidence.sensor == "OCR":
            candidates = [Candidate(v, c) for v, c in sorted(evidence.candidates.items())]
            result = repair(module_name, raw, candidates, expected)
            ok = result.outcome in (Outcome.VALID, Outcome.REPAIRED)
            return kind, (result.value if ok else None), str(result.outcome)
        return (kind, *_checked(module_name, raw))
    if kind == "WAGON":
        return (kind, *_checked("wagon", raw))
    if kind == "PLATE":
        try:
            value = identifiers.KINDS["plate"].validate(raw, country=evidence.country or "IT")
        except ValueError:  # IdentifierError, or a country code that is not ISO 3166
            return kind, None, str(Outcome.INVALID)
        return kind, value, None
    if kind in ("SEAL", "SWAP_BODY", "MANIFEST_GOODS"):
        return kind, (raw or None), None
    return kind, None, None


def _checked(module_name: str, raw: str) -> tuple[str | None, str]:
    if identifiers.KINDS[module_name].is_valid(raw):
        return raw, str(Outcome.VALID)
    return None, str(Outcome.INVALID)


def _barcode(raw: str) -> tuple[str | None, str | None, str | None]:
    as_uuid = _parse_uuid(raw)
    if as_uuid is not None:
        return "IOT_ID", as_uuid, str(Outcome.VALID)
    if identifiers.KINDS["mrn"].is_valid(raw):
        return "MRN", raw, str(Outcome.VALID)
    return None, None, str(Outcome.INVALID)
