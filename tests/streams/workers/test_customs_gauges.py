"""The Customs gauges follow the state from what each batch changed: after every input, the
view kept from the batch's outputs and changelog keys says what a view rebuilt from the whole
state says (IOT_IDs by status, open holds and waiting inputs, each with its count and oldest),
whatever order the inputs came in; and the keyed counts behind it agree with a plain scan."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import Channel, CoreState, apply, state_value
from streams.ops import metrics
from streams.replay.lines import InputEvent, read_events
from streams.workers import core as core_worker
from streams.workers.changelog import changelog_records
from streams.workers.core import CoreWorker
from streams.workers.core_metrics import WAITING_KINDS, BatchMetrics, CustomsView
from streams.workers.oldest import Entry, OldestByGroup
from topics.codec import SingleObjectCodec

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
EVENTS = [
    event
    for path in sorted(GOLDEN.glob("*.in.jsonl"))
    for event in read_events(path.read_text().splitlines())
]
CODEC = SingleObjectCodec()


def _gauges(view: CustomsView) -> dict[str, object]:
    return {
        "status": {s: n for s, n in view.by_status.items() if n},
        "held": {a: (view.held.count(a), view.held.oldest(a)) for a in view.held.groups()},
        "waiting": {k: (view.waiting.count(k), view.waiting.oldest(k)) for k in WAITING_KINDS},
    }


def _scanned(state: CoreState) -> dict[str, object]:
    """The same gauges, by a scan of the whole state."""
    status: Counter[str] = Counter(str(state_value(t)["status"]) for t in state.iots.values())
    placed: dict[str, list[int]] = {}
    for tracked in state.iots.values():
        for hold in tracked.clearance.open_holds():
            placed.setdefault(hold.agency, []).append(hold.placed_at)
    times: dict[str, list[int]] = {kind: [] for kind in WAITING_KINDS}
    for key, inputs in state.parked.items():
        kind = "iot_id" if key.startswith("iot:") else "mission_path"
        times[kind] += [p.occurred_at for p in inputs]
    for reads in state.unresolved.values():
        times["late_binding"] += [r.expires_at - state.config.park_wait_ms for r in reads]
    return {
        "status": dict(status),
        "held": {a: (len(t), min(t)) for a, t in placed.items()},
        "waiting": {k: (len(t), min(t, default=None)) for k, t in times.items()},
    }


def _worker() -> CoreWorker:
    worker = object.__new__(CoreWorker)
    worker.codec = CODEC
    worker.producer = SimpleNamespace(produce=lambda topic, key, value: None)
    worker._batch = BatchMetrics()
    worker.stats = core_worker.CoreStats()
    worker.state = CoreState()
    return worker


def _follow(events: list[InputEvent]) -> int:
    """Apply ``events`` one batch each; after each, the kept view against a rebuilt one. The
    number of batches after which something waited."""
    worker, view, waited = _worker(), CustomsView(), 0
    for event in events:
        worker.state, outputs = apply(worker.state, event.schema, event.value, event.sender)
        for output in outputs:
            if output.channel not in (Channel.REFUSALS, Channel.REPLIES):
                worker._publish(output, None)  # type: ignore[arg-type]  # no dead letter here
        keys = [key.decode() for key, _ in changelog_records(worker.state, CODEC)]
        batch, worker._batch = worker._batch, BatchMetrics()
        view.update(batch)
        view.take_waiting(worker.state, keys)
        kept, scanned = _gauges(view), _scanned(worker.state)
        held = {agency: gauge for agency, gauge in kept["held"].items() if gauge[0]}
        assert (kept["status"], held, kept["waiting"]) == (
            scanned["status"],
            scanned["held"],
            scanned["waiting"],
        ), event
        rebuilt = CustomsView()
        rebuilt.rebuild(worker.state)
        assert _gauges(rebuilt)["waiting"] == kept["waiting"]
        waited += any(count for count, _ in kept["waiting"].values())
    return waited


def test_the_kept_view_equals_a_rebuilt_one_in_file_order_and_reversed():
    assert _follow(EVENTS) >= 0
    # Reversed, most inputs come before what they refer to and wait: the view must see them.
    assert _follow(EVENTS[::-1]) > 0


@settings(max_examples=25, deadline=None)
@given(st.permutations(EVENTS[:60]))
def test_the_kept_view_equals_a_rebuilt_one_in_any_order(events):
    _follow(list(events))


_OPS = st.lists(
    st.tuples(
        st.sampled_from("abcdef"),
        st.sampled_from(("iot_id", "late_binding")),
        st.integers(0, 3),
        st.integers(0, 100),
    ),
    max_size=200,
)


@given(_OPS)
def test_counts_and_oldest_agree_with_a_scan(ops):
    view, model = OldestByGroup(), {}
    for key, group, count, oldest in ops:
        view.put(key, Entry(group, count, oldest))
        if count:
            model[key] = (group, count, oldest)
        else:
            model.pop(key, None)
        for g in ("iot_id", "late_binding"):
            mine = [(c, o) for gg, c, o in model.values() if gg == g]
            assert view.count(g) == sum(c for c, _ in mine)
            assert view.oldest(g) == min((o for _, o in mine), default=None)


def test_a_rebuild_from_a_state_without_holds_or_iot_ids_sets_their_gauges_to_zero():
    view, batch, at = CustomsView(), BatchMetrics(), 1_795_600_000_000
    batch.holds["iot-1"] = (("phytosanitary", at),)
    batch.statuses["iot-1"] = "ACTIVE"
    view.update(batch)
    view.export(at + 60_000)
    assert metrics.HOLDS_OPEN.labels("phytosanitary")._value.get() == 1
    assert metrics.IOT_IDS.labels("ACTIVE")._value.get() == 1
    view.rebuild(CoreState())  # restored after a batch whose commit was reported failed
    view.export(at + 120_000)
    assert metrics.HOLDS_OPEN.labels("phytosanitary")._value.get() == 0
    assert metrics.HOLD_OLDEST_AGE.labels("phytosanitary")._value.get() == 0
    assert metrics.IOT_IDS.labels("ACTIVE")._value.get() == 0
