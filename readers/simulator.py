"""Hardware simulators: realistic gate device payloads, reproducible from a seed.

Scenarios: trucks through a port gate (OCR + RFID portals and a barcode scanner per lane), a
vessel discharge (quay crane OCR), a train through a rail portal (OCR of wagons and units). Each
device payload is the JSON documented in ``readers/README.md``. Faults, at configurable rates:
OCR confusions (O/0, I/1, B/8, S/5, G/Q, D/0, Z/2) and dropped characters, with the true code
often among the OCR's lower-confidence candidates; RFID tags read many times per passage and
sometimes missed; occasional garbage payloads. Every simulated OCR container read remembers the
truth, so repair outcomes can be scored.
"""

from __future__ import annotations

import json
import random
import string
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from processors.identifiers import container, ilu, wagon

OWNERS = ("MSC", "MSK", "CMA", "HLX", "COS", "EVR", "ONE", "YML", "TCN", "TGH", "CAI", "TEX")
ILU_OWNERS = ("GBT", "KRT", "HUP", "CTL", "TXL")
SIZE_TYPES = ("22G1", "42G1", "45G1", "45R1", "22T6", "L5G1")
PLATE_LETTERS = "ABCDEFGHJKLMNPRSTVWXYZ"
# Confusions an OCR engine makes on container codes, both ways.
CONFUSIONS = {
    "O": "0",
    "0": "O",
    "I": "1",
    "1": "I",
    "B": "8",
    "8": "B",
    "S": "5",
    "5": "S",
    "G": "Q",
    "Q": "G",
    "D": "0",
    "Z": "2",
    "2": "Z",
}
START = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Faults:
    """Fault rates of the simulated hardware."""

    ocr_error_rate: float = 0.02
    rfid_miss_rate: float = 0.05
    rfid_tagged_share: float = 0.6
    garbage_rate: float = 0.005


@dataclass(frozen=True)
class DevicePayload:
    """One payload as a device would send it, where it goes, and what was really there."""

    kind: str
    read_point: str
    node: str
    at: datetime
    body: bytes
    truth: tuple[str, ...] = ()
    garbage: bool = False


@dataclass
class Simulation:
    """A scenario's payloads in time order, and the units it moved."""

    payloads: list[DevicePayload] = field(default_factory=list)
    units: list[str] = field(default_factory=list)

    def by_reader(self) -> dict[tuple[str, str, str], list[DevicePayload]]:
        """Payloads grouped per (kind, read point, node), each group in time order."""
        groups: dict[tuple[str, str, str], list[DevicePayload]] = {}
        for payload in sorted(self.payloads, key=lambda p: p.at):
            groups.setdefault((payload.kind, payload.read_point, payload.node), []).append(payload)
        return groups


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Simulator:
    """Reproducible scenarios: the same seed gives the same payloads, byte for byte."""

    def __init__(self, seed: int = 7, faults: Faults = Faults()) -> None:
        self.random = random.Random(seed)  # noqa: S311 - reproducible scenarios, not secrets
        self.faults = faults
        self._passage = 0

    # -- identifiers ------------------------------------------------------------------------
    def container_code(self) -> str:
        body = self.random.choice(OWNERS) + "U" + f"{self.random.randrange(10**6):06d}"
        return body + container.check_digit(body)

    def ilu_code(self) -> str:
        body = self.random.choice(ILU_OWNERS) + "A" + f"{self.random.randrange(10**6):06d}"
        return body + ilu.check_digit(body)

    def wagon_number(self) -> str:
        body = "".join(self.random.choice(string.digits) for _ in range(11))
        return body + wagon.check_digit(body)

    def plate(self) -> str:
        pick = self.random.choice
        first = pick("ABCDFGHJKLMNPRSTVWXYZ")  # not starting EE
        return (
            first
            + pick(PLATE_LETTERS)
            + f"{self.random.randrange(1000):03d}"
            + pick(PLATE_LETTERS)
            + pick(PLATE_LETTERS)
        )

    def trailer_plate(self) -> str:
        pick = self.random.choice
        return (
            "X"
            + pick(PLATE_LETTERS)
            + f"{self.random.randrange(1000):03d}"
            + pick(PLATE_LETTERS)
            + pick(PLATE_LETTERS)
        )

    # -- faults -----------------------------------------------------------------------------
    def misread(self, code: str) -> str:
        """One OCR error: a look-alike confusion or, one time in four, a dropped character."""
        if self.random.random() < 0.25:
            position = self.random.randrange(len(code))
            return code[:position] + code[position + 1 :]
        positions = [i for i, ch in enumerate(code) if ch in CONFUSIONS]
        if not positions:
            return code[:-1]
        position = self.random.choice(positions)
        return code[:position] + CONFUSIONS[code[position]] + code[position + 1 :]

    def ocr_unit(self, code: str) -> tuple[dict[str, Any], str]:
        """The OCR's view of one unit code: the read, its confidence, alternatives."""
        if self.random.random() < self.faults.ocr_error_rate:
            read = self.misread(code)
            candidates = []
            if self.random.random() < 0.5:
                candidates.append(
                    {"code": code, "confidence": round(self.random.uniform(0.3, 0.6), 2)}
                )
            return {
                "code": read,
                "confidence": round(self.random.uniform(0.55, 0.85), 2),
                "candidates": candidates,
            }, read
        return {
            "code": code,
            "confidence": round(self.random.uniform(0.9, 0.995), 3),
            "candidates": [],
        }, code

    def garbage(self) -> bytes:
        return self.random.choice(
            [
                b"\x00\x17\xffnot json at all",
                b'{"device_id": "ocr-x", "captured_at": "yesterday", "containers": []}',
                b'{"device_id": "ocr-x", "lane": 3, "captured_at": 1790000000000}',
                b"[1, 2, 3",
                b'{"truncated": ',
            ]
        )

    # -- devices ----------------------------------------------------------------------------
    def _ref(self) -> str:
        self._passage += 1
        return f"{self._passage:07d}"

    def _maybe_garbage(
        self, kind: str, read_point: str, node: str, at: datetime
    ) -> Iterator[DevicePayload]:
        if self.random.random() < self.faults.garbage_rate:
            yield DevicePayload(kind, read_point, node, at, self.garbage(), garbage=True)

    def truck_at_gate(
        self,
        at: datetime,
        lane: int,
        direction: str,
        node: str = "PORT-GATE-1",
        units: list[str] | None = None,
    ) -> list[DevicePayload]:
        """One truck through one lane: OCR passage record, RFID tag reads, sometimes a scan."""
        lane_name = str(lane)
        codes = units if units is not None else [self.container_code()]
        # One portal per lane: its OCR and RFID readers share the read point, so their reads
        # of one truck fuse into one passage.
        ocr_point = rfid_point = f"{node}-L{lane}"
        ocr_units, truth = [], []
        for code in codes:
            view, _read = self.ocr_unit(code)
            view["iso_size_type"] = self.random.choice(SIZE_TYPES)
            ocr_units.append(view)
            truth.append(code)
        ocr = {
            "device_id": f"ocr-{node.lower()}-l{lane}",
            "passage_ref": self._ref(),
            "lane": lane_name,
            "direction": direction,
            "captured_at": _iso(at),
            "containers": ocr_units,
            "truck_plate": {
                "text": self.plate(),
                "country": "IT",
                "confidence": round(self.random.uniform(0.85, 0.99), 2),
            },
            "trailer_plate": {"text": self.trailer_plate(), "country": "IT", "confidence": 0.9},
            "seals": [{"present": True, "text": f"SL{self.random.randrange(10**7):07d}"}],
            "images": [f"https://ocr.example.invalid/{node}/{self._passage}.jpg"],
        }
        out = [DevicePayload("ocr", ocr_point, node, at, json.dumps(ocr).encode(), tuple(truth))]
        tagged = [c for c in codes if self.random.random() < self.faults.rfid_tagged_share]
        reads = []
        for code in tagged:
            if self.random.random() < self.faults.rfid_miss_rate:
                continue
            for n in range(self.random.randint(3, 15)):
                reads.append(
                    {
                        "at": _iso(
                            at + timedelta(milliseconds=100 * n + self.random.randrange(80))
                        ),
                        "antenna": self.random.randint(1, 4),
                        "rssi": round(self.random.uniform(-70, -40), 1),
                        "tag": {"type": "iso10891", "container": code},
                    }
                )
        if reads:
            rfid = {
                "device_id": f"rfid-{node.lower()}-l{lane}",
                "passage_ref": self._ref(),
                "lane": lane_name,
                "direction": direction,
                "reads": reads,
            }
            out.append(
                DevicePayload(
                    "rfid",
                    rfid_point,
                    node,
                    at + timedelta(milliseconds=300),
                    json.dumps(rfid).encode(),
                    tuple(tagged),
                )
            )
        out.extend(self._maybe_garbage("ocr", ocr_point, node, at))
        return out

    def gate_hour(self, trucks: int = 240, lanes: int = 4, node: str = "PORT-GATE-1") -> Simulation:
        """A peak hour at a port gate: ``trucks`` trucks over ``lanes`` lanes, out and in."""
        simulation = Simulation()
        for n in range(trucks):
            at = START + timedelta(seconds=3600 * n / trucks + self.random.uniform(0, 2))
            lane = n % lanes + 1
            direction = "OUT" if lane <= lanes // 2 else "IN"
            units = [self.container_code() for _ in range(2 if self.random.random() < 0.15 else 1)]
            simulation.units.extend(units)
            simulation.payloads.extend(self.truck_at_gate(at, lane, direction, node, units))
        simulation.payloads.sort(key=lambda p: p.at)
        return simulation

    def vessel_discharge(
        self, containers: int = 300, cranes: int = 3, node: str = "TERMINAL-QUAY-1"
    ) -> Simulation:
        """Containers lifted off a vessel, read by the OCR on each quay crane."""
        simulation = Simulation()
        for n in range(containers):
            crane = n % cranes + 1
            at = START + timedelta(seconds=110 * (n // cranes) + self.random.uniform(0, 5))
            code = self.container_code()
            simulation.units.append(code)
            view, _ = self.ocr_unit(code)
            point = f"{node}-CRANE{crane}-OCR"
            document = {
                "device_id": f"ocr-crane-{crane}",
                "passage_ref": self._ref(),
                "lane": f"crane{crane}",
                "direction": "IN",
                "captured_at": _iso(at),
                "containers": [view],
            }
            simulation.payloads.append(
                DevicePayload("ocr", point, node, at, json.dumps(document).encode(), (code,))
            )
            simulation.payloads.extend(self._maybe_garbage("ocr", point, node, at))
        simulation.payloads.sort(key=lambda p: p.at)
        return simulation

    def train(
        self,
        wagons: int = 15,
        node: str = "RAIL-GATE-1",
        consist: Sequence[tuple[str, Sequence[str]]] | None = None,
        at: datetime | None = None,
    ) -> Simulation:
        """A train through the rail portal: per wagon, its number and its units, in order.

        ``consist`` gives the wagons (number, unit codes) actually on the train; without it a
        train of ``wagons`` random wagons with two units each passes. Unit codes are read with
        the simulator's OCR errors.
        """
        simulation = Simulation()
        at = at or START + timedelta(hours=2)
        point = f"{node}-OCR"
        count = wagons if consist is None else len(consist)
        for position in range(1, count + 1):
            at += timedelta(seconds=4)
            if consist is None:
                units: Sequence[str] = [
                    self.container_code() if self.random.random() < 0.7 else self.ilu_code()
                    for _ in range(2)
                ]
            else:
                units = consist[position - 1][1]
            simulation.units.extend(units)
            views = [self.ocr_unit(u)[0] for u in units]
            number = self.wagon_number() if consist is None else consist[position - 1][0]
            document = {
                "device_id": "ocr-rail-portal",
                "passage_ref": self._ref(),
                "lane": "track1",
                "direction": "OUT",
                "captured_at": _iso(at),
                "containers": [v for v, u in zip(views, units, strict=True) if u[3] == "U"],
                "ilus": [v for v, u in zip(views, units, strict=True) if u[3] != "U"],
                "wagon": {"number": number, "position": position},
            }
            simulation.payloads.append(
                DevicePayload("ocr", point, node, at, json.dumps(document).encode(), tuple(units))
            )
        return simulation

    def barcode(
        self, at: datetime, read_point: str, node: str, data: str | None = None
    ) -> DevicePayload:
        """A driver's document scanned at the gate: an IOT_ID (random here) or given data."""
        document = {
            "device_id": "scanner-1",
            "passage_ref": self._ref(),
            "lane": "1",
            "direction": "OUT",
            "scanned_at": _iso(at),
            "data": data or str(uuid.UUID(int=self.random.getrandbits(128), version=4)),
        }
        return DevicePayload("barcode", read_point, node, at, json.dumps(document).encode())
