"""The golden scenarios of the customs domain's rules: units and carriers, declarations that
release by MRN, and inputs that arrive before what they refer to (``scenarios.main`` writes them
with the others)."""

from __future__ import annotations

from processors.identifiers import container, mrn
from tests.golden.scenarios import HOUR, IMPORT_ROAD, MINUTE, T0, Scenario, iot_of


def _unit(owner_serial: str) -> str:
    return owner_serial + container.check_digit(owner_serial)


def _mrn(body: str) -> str:
    return body + mrn.check_digit(body)


TRUCK_UNITS = [_unit("MSCU123456"), _unit("HLXU314159")]
MORE_UNITS = [_unit("MAEU271828"), _unit("OOLU161803")]
DECLARATION = _mrn("26IT000000000010R")
OTHER_MRNS = [_mrn("26IT000000000011R"), _mrn("26IT000000000012R")]
PLATE = {"kind": "PLATE", "value": "AB123CD", "country": "IT"}


def _bind(
    s: Scenario, at: int, request_id: str, itus: list[dict[str, str]], mrns: list[str]
) -> None:
    s.add(
        "BindingRequested",
        at,
        "customs",
        request_id=request_id,
        mrns=mrns,
        itus=itus,
        mission_path_id="IMPORT-ROAD",
        requested_by="officer.rossi",
    )


def _box(code: str) -> dict[str, str]:
    return {"kind": "CONTAINER", "value": code}


def _declare(s: Scenario, at: int, state: str, note: str | None = None) -> None:
    s.add(
        "DeclarationStatus",
        at,
        "customs-aida",
        mrn=DECLARATION,
        state=state,
        procedure="IM",
        declarant="spedizioni.livorno",
        note=note,
    )


def _gate_out(s: Scenario, at: int, codes: list[str], plate: bool = False) -> None:
    identifiers = [_box(c) for c in codes] + ([PLATE] if plate else [])
    s.add(
        "Passage",
        at,
        "iotrack-fusion",
        read_point_id="PORT-GATE-1-L1",
        node_id="PORT-GATE-1",
        lane="1",
        direction="OUT",
        started_at=at,
        ended_at=at + 1500,
        identifiers=identifiers,
        evidence=[],
        sensors_agree=True,
    )


def truck_with_two_containers() -> Scenario:
    """A truck's plate bound with two containers, each on its own IOT_ID and MRN: the plate may
    leave only once both are released; each container's verdict is its own."""
    s = Scenario("truck-with-two-containers-released-one-at-a-time")
    s.path(T0, "IMPORT-ROAD", IMPORT_ROAD, [3 * 24 * HOUR])
    for n, (code, declared) in enumerate(zip(TRUCK_UNITS, OTHER_MRNS, strict=True)):
        _bind(s, T0 + MINUTE + n, f"TRUCK-{n + 1}", [_box(code), PLATE], [declared])
    s.passage(T0 + 10 * MINUTE, "TERMINAL-QUAY-1", "QUAY-1-CRANE-2", TRUCK_UNITS)
    s.release(T0 + HOUR, iot_of(s, "TRUCK-1"), OTHER_MRNS[0])
    s.release(T0 + 2 * HOUR, iot_of(s, "TRUCK-2"), OTHER_MRNS[1])
    _gate_out(s, T0 + 3 * HOUR, TRUCK_UNITS, plate=True)
    return s


def container_rebound() -> Scenario:
    """A container bound on one path while active there is refused on another (a conflict
    naming both), and accepted once its first binding ended."""
    s = Scenario("container-rebound-while-active-then-after-its-binding-ended")
    s.path(T0, "IMPORT-ROAD", IMPORT_ROAD, [3 * 24 * HOUR])
    s.path(
        T0 + 1,
        "TRANSHIPMENT",
        [
            ("TERMINAL-QUAY-1", "TERMINAL", "DEPARTURE"),
            ("TERMINAL-QUAY-2", "TERMINAL", "DESTINATION"),
        ],
        [24 * HOUR],
    )
    s.bind(T0 + MINUTE, "FIRST", MORE_UNITS[0], [OTHER_MRNS[0]], "IMPORT-ROAD")
    s.bind(T0 + 2 * MINUTE, "SECOND", MORE_UNITS[0], [OTHER_MRNS[1]], "TRANSHIPMENT")
    s.add(
        "BindingEnded",
        T0 + HOUR,
        "customs",
        iot_id=iot_of(s, "FIRST"),
        reason="CORRECTION",
        ended_by="officer.rossi",
        valid_to=T0 + HOUR,
        note="declared for transhipment instead",
    )
    s.bind(T0 + HOUR + MINUTE, "THIRD", MORE_UNITS[0], [OTHER_MRNS[1]], "TRANSHIPMENT")
    return s


def released_by_declaration() -> Scenario:
    """One declaration covering three containers, released once by its MRN: all three may
    leave, and so may a fourth bound to it afterwards."""
    s = Scenario("one-declaration-released-by-mrn-over-three-containers")
    s.path(T0, "IMPORT-ROAD", IMPORT_ROAD, [3 * 24 * HOUR])
    codes = [*TRUCK_UNITS, MORE_UNITS[0]]
    for n, code in enumerate(codes):
        _bind(s, T0 + MINUTE + n, f"DECL-{n + 1}", [_box(code)], [DECLARATION])
    _declare(s, T0 + 10 * MINUTE, "ACCEPTED")
    _declare(s, T0 + HOUR, "RELEASED")
    _bind(s, T0 + 2 * HOUR, "DECL-4", [_box(MORE_UNITS[1])], [DECLARATION])
    return s


def declaration_under_control() -> Scenario:
    """A declaration under control keeps its units from leaving, even with a release of the
    IOT_ID; the verdict says only "not released", the control is for Customs alone."""
    s = Scenario("declaration-under-control")
    s.path(T0, "IMPORT-ROAD", IMPORT_ROAD, [3 * 24 * HOUR])
    _bind(s, T0 + MINUTE, "CTRL-1", [_box(TRUCK_UNITS[0])], [DECLARATION])
    _declare(s, T0 + 10 * MINUTE, "UNDER_CONTROL", "physical control: channel red, risk profile 7")
    s.release(T0 + 20 * MINUTE, iot_of(s, "CTRL-1"), DECLARATION)
    _declare(s, T0 + 2 * HOUR, "RELEASED", "control closed: compliant")
    return s


def declaration_annulled() -> Scenario:
    """An annulled declaration cannot be released: each IOT_ID bound to it is a deviation, and a
    release of its MRN is refused."""
    s = Scenario("declaration-annulled")
    s.path(T0, "IMPORT-ROAD", IMPORT_ROAD, [3 * 24 * HOUR])
    for n, code in enumerate(TRUCK_UNITS):
        _bind(s, T0 + MINUTE + n, f"ANN-{n + 1}", [_box(code)], [DECLARATION])
    _declare(s, T0 + HOUR, "ANNULLED", "declarant withdrew the declaration")
    s.release(T0 + 2 * HOUR, iot_of(s, "ANN-1"), DECLARATION)
    return s


def release_before_binding() -> Scenario:
    """A release that reaches the core before the binding of its IOT_ID waits for it and is
    applied when it comes: the unit may leave, as if they had come in order."""
    s = Scenario("release-arrives-before-its-binding")
    s.path(T0, "IMPORT-ROAD", IMPORT_ROAD, [3 * 24 * HOUR])
    later = Scenario("release-arrives-before-its-binding")
    later.path(T0, "IMPORT-ROAD", IMPORT_ROAD, [3 * 24 * HOUR])
    later.bind(T0 + HOUR, "LATE-1", MORE_UNITS[1], [OTHER_MRNS[0]], "IMPORT-ROAD")
    s.release(T0 + HOUR + MINUTE, iot_of(later, "LATE-1"), OTHER_MRNS[0])
    s.bind(T0 + HOUR, "LATE-1", MORE_UNITS[1], [OTHER_MRNS[0]], "IMPORT-ROAD")
    return s


DOMAIN_SCENARIOS = (
    truck_with_two_containers,
    container_rebound,
    released_by_declaration,
    declaration_under_control,
    declaration_annulled,
    release_before_binding,
)
