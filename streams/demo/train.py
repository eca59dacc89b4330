"""The demo's train: one export train through the three rail phases of the seed document.

Customs binds 20 containers on the rail path and releases them; one is held for a scan. The
operator's loading list is answered (19 ready, 1 held); manifest v1 with all 20 is refused;
v2 leaves the held one behind and is granted. At the exit portal the first read shows wagons 2
and 3 swapped: permission is revoked. The operator recomposes, sends v3, the train is read
again (with the simulator's OCR errors, repaired against the manifest) and matches; the GdF
confirms each exit and the train has departed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from processors.identifiers import mrn as mrn_module
from processors.ids import deterministic_uuid7
from processors.parties import PartyKind, Sender
from readers.rail_files import portal_wagons
from readers.simulator import START, Simulator
from streams.kafka.reading import read_committed
from streams.replay.lines import EventLines
from topics import catalog
from topics.clients import KafkaConnection
from topics.codec import Codec, plain

TRAIN = "IT-DEMO-4711"
OPERATOR = "tuscan-rail"
GATE = "RAIL-GATE-1"
PARTIES = (Sender.rail_operator(OPERATOR), Sender(PartyKind.RAIL_PORTAL, f"{GATE}-OCR".lower()))
"""The parties the demo's train admits: its operator and the exit gate's portal."""
MINUTE = 60_000


def _ms(hours: float) -> int:
    return int((START + timedelta(hours=hours)).timestamp() * 1000)


class RailDay:
    """The train's events, built from the demo's simulator."""

    def __init__(self, simulator: Simulator, units: int = 20) -> None:
        self.simulator = simulator
        self.units = [simulator.container_code() for _ in range(units)]
        self.wagons = [simulator.wagon_number() for _ in range(units // 2)]
        self.held = self.units[7]
        self.iot: dict[str, str] = {}
        self.mrn: dict[str, str] = {}
        self._line = EventLines("demo-rail", "demo").line

    def bindings(self) -> list[str]:
        """Customs binds each unit on the rail path."""
        lines = []
        at = _ms(9)
        for n, unit in enumerate(self.units):
            body = f"26IT{self.simulator.random.randrange(10**12):012d}R"
            self.mrn[unit] = body + mrn_module.check_digit(body)
            request = f"DEMO-RAIL-{unit}"
            self.iot[unit] = deterministic_uuid7(at + n, "iot", request)
            lines.append(
                self._line(
                    "BindingRequested",
                    at + n,
                    request_id=request,
                    mrns=[self.mrn[unit]],
                    mission_path_id="RAIL-EXPORT",
                    itus=[{"kind": "CONTAINER", "value": unit}],
                    requested_by="officer.rossi",
                )
            )
        return lines

    def decisions(self) -> list[str]:
        """Customs releases every unit and holds one for a scan."""
        lines = []
        for n, unit in enumerate(self.units):
            lines.append(
                self._line(
                    "CustomsRelease",
                    _ms(9.5) + n,
                    iot_id=self.iot[unit],
                    mrn=self.mrn[unit],
                    released_by="officer.rossi",
                )
            )
        lines.append(
            self._line(
                "HoldPlaced",
                _ms(9.6),
                iot_id=self.iot[self.held],
                hold_id="H-RAIL-1",
                agency="CUSTOMS",
                hold_type="SCANNING",
                reason_code="RISK-3",
                reason="x-ray scan requested",
                placed_by="customs.duty",
            )
        )
        return lines

    def loading_list(self) -> list[str]:
        return [
            self._line(
                "TrainLoadingList",
                _ms(10),
                train_id=TRAIN,
                operator=OPERATOR,
                planned_departure=_ms(12),
                items=[
                    {"itu": {"kind": "CONTAINER", "value": u}, "mrn": self.mrn[u]}
                    for u in self.units
                ],
                answered=False,
            )
        ]

    def _layout(self, units: list[str]) -> list[tuple[str, list[str]]]:
        return [(self.wagons[n // 2], units[n : n + 2]) for n in range(0, len(units), 2)]

    def manifest(self, version: int, hours: float) -> list[str]:
        """v1: every unit; v2 and later: the held one left behind."""
        units = self.units if version == 1 else [u for u in self.units if u != self.held]
        wagons = [
            {
                "position": position,
                "wagon_number": number,
                "itus": [{"kind": "CONTAINER", "value": u} for u in on_wagon],
                "mrns": [self.mrn[u] for u in on_wagon],
                "transport_document": f"CIM-{TRAIN}-{position}",
            }
            for position, (number, on_wagon) in enumerate(self._layout(units), start=1)
        ]
        return [
            self._line(
                "TrainManifest",
                _ms(hours),
                train_id=TRAIN,
                version=version,
                operator=OPERATOR,
                wagons=wagons,
                supersedes_version=version - 1 if version > 1 else None,
            )
        ]

    def consist(self, hours: float, *, swapped: bool) -> list[str]:
        """The rail portal's reads of the departing train (v2's composition), OCR errors and all."""
        layout = self._layout([u for u in self.units if u != self.held])
        if swapped:
            layout[1], layout[2] = layout[2], layout[1]
        simulation = self.simulator.train(
            consist=layout, node=GATE, at=START + timedelta(hours=hours)
        )
        wagons = portal_wagons("\n".join(p.body.decode() for p in simulation.payloads))
        return [
            self._line(
                "DetectedConsist",
                _ms(hours),
                train_id=TRAIN,
                gate_node_id=GATE,
                read_point_id=f"{GATE}-OCR",
                wagons=wagons,
            )
        ]

    def exits(self) -> list[str]:
        return [
            self._line(
                "ExitConfirmed",
                _ms(11.5) + n,
                iot_id=self.iot[unit],
                mode="RAIL",
                gate_node_id=GATE,
                confirmed_by="gdf.bianchi",
            )
            for n, unit in enumerate(u for u in self.units if u != self.held)
        ]


def play(
    train: RailDay, send: Callable[[list[str], str], None], say: Callable[[str], None]
) -> None:
    """The train's day; ``send`` publishes lines and waits until the core has taken them."""
    # One topic at a time: the core reads its topics side by side, with no order between them.
    send(train.bindings(), "the rail bindings")
    send(train.decisions(), "the rail releases and the hold")
    say(f"Customs bound and released {len(train.units)} containers for {TRAIN}; one held")
    send(train.loading_list(), "the loading list")
    say(f"{OPERATOR} shared the loading list of {TRAIN}: {len(train.units)} units")
    send(train.manifest(1, 10.25), "manifest v1")
    send(train.manifest(2, 10.5), "manifest v2")
    say("manifest v1 refused (a held unit), v2 without it granted")
    send(train.consist(11, swapped=True), "the first exit read")
    say("exit portal: wagons 2 and 3 swapped, permission revoked")
    send(train.manifest(3, 11.2), "manifest v3")
    send(train.consist(11.4, swapped=False), "the second exit read")
    send(train.exits(), "the rail exits")
    say(f"exit portal: consist matches; the GdF confirmed {len(train.units) - 1} exits")


def summary(connection: KafkaConnection, codec: Codec) -> dict[str, Any]:
    """The demo train as the rail topics hold it now (read by ``connection``'s party)."""
    latest: dict[str, Any] = {}
    for message in read_committed(connection, catalog.TRAINS):
        if message.key() == TRAIN.encode() and message.value() is not None:
            latest = plain(codec.decode(message.value() or b"", topic=catalog.TRAINS.name).value)
    checks = [
        plain(codec.decode(m.value() or b"", topic=catalog.CONSISTS.name).value)
        for m in read_committed(connection, catalog.CONSISTS)
        if m.value() is not None
    ]
    ours = [c for c in checks if c["train_id"] == TRAIN]
    return {
        "train_id": TRAIN,
        "phase": latest.get("phase"),
        "manifest_versions": latest.get("manifest_versions", []),
        "exited": latest.get("exited", 0),
        "consist_checks": [
            {"matched": c["matched"], "problems": c["problems"], "repairs": len(c["repairs"])}
            for c in ours
        ],
    }


def describe(train: dict[str, Any]) -> str:
    """The train's line of the demo's printed summary."""
    checks = "; ".join(
        "matches"
        if c["matched"]
        else "differs (" + ", ".join(p.split(":")[0] for p in c["problems"]) + ")"
        for c in train["consist_checks"]
    )
    versions = ", ".join(f"v{v}" for v in train["manifest_versions"])
    return (
        f"train {train['train_id']}: {train['phase']}, manifests {versions}, "
        f"exit reads: {checks or 'none'}; {train['exited']} exits confirmed"
    )
