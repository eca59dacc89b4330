"""Readiness says the truth without a broker: a consumer whose loop stopped polling, one that
holds what it took without finishing it, one whose records wait untaken, a lost broker and a
dead thread each fail the check that names them, in /ready, in iotrack_ready and in what
``iotrack status`` reads; and each passes again once the cause is gone."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace
from typing import Any

from streams.http.api import Api
from streams.http.ops import serve_ops
from streams.http.queries import Queries
from streams.ops import metrics, running
from streams.ops.readiness import Readiness
from streams.workers import ready
from tests.tokens import credentials_of
from topics.clients import ClientWatch

STALL_S = 0.3
NOWHERE = "postgresql://nobody@127.0.0.1:1/nothing"


def _statistics(*, up: bool = True, end: int = 10, position: int = 10) -> str:
    """librdkafka statistics of a consumer of one partition of ``topic``."""
    return json.dumps(
        {
            "brokers": {"b1": {"state": "UP" if up else "DOWN"}},
            "topics": {
                "topic": {
                    "partitions": {
                        "0": {"ls_offset": end, "app_offset": position},
                        "-1": {"ls_offset": 99, "app_offset": 0},
                    }
                }
            },
        }
    )


class _Polling:
    """A consumer loop that polls (librdkafka's statistics keep coming) until stopped."""

    def __init__(self, watch: ClientWatch, statistics: str) -> None:
        self.watch = watch
        self.statistics = statistics
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            self.watch.on_statistics(self.statistics)
            self.stop.wait(0.02)

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(5)


def _failing(readiness: Readiness) -> dict[str, str]:
    return {c.name: c.reason for c in readiness.ready()[1] if not c.ok}


def _until(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.02)


def _fusion(watch: ClientWatch, thread: threading.Thread | None = None) -> SimpleNamespace:
    return SimpleNamespace(watch=watch, error=None, thread=thread)


def _projection(watch: ClientWatch) -> SimpleNamespace:
    return SimpleNamespace(
        watch=watch, error=None, thread=None, database_lost=None, topics=("a", "b")
    )


def test_a_worker_whose_consumer_loop_stopped_is_not_ready_naming_progress():
    watch = ClientWatch()
    loop = _Polling(watch, _statistics())
    readiness = ready.fusion(_fusion(watch), stall_s=STALL_S)  # type: ignore[arg-type]
    try:
        time.sleep(STALL_S * 2)
        assert readiness.ready()[0], _failing(readiness)
    finally:
        loop.halt()
    _until(lambda: "progress" in _failing(readiness))
    reason = _failing(readiness)["progress"]
    assert "has not been polled for" in reason
    assert "its loop stopped" in reason
    assert set(_failing(readiness)) == {"progress"}, "a stopped loop, not a lost broker"
    assert readiness.alive()[0]
    loop = _Polling(watch, _statistics())  # the loop polls again
    try:
        _until(lambda: readiness.ready()[0])
    finally:
        loop.halt()


def test_records_in_hand_too_long_make_a_worker_not_ready_until_it_is_done():
    watch = ClientWatch()
    loop = _Polling(watch, _statistics())
    readiness = ready.projection(_projection(watch), stall_s=STALL_S)  # type: ignore[arg-type]
    try:
        watch.working()
        _until(lambda: "progress" in _failing(readiness))
        assert "have been in hand for" in _failing(readiness)["progress"]
        assert "the 2 projected topics" in _failing(readiness)["progress"]
        watch.took(3)
        assert readiness.ready()[0], _failing(readiness)
    finally:
        loop.halt()


def test_a_worker_stuck_on_what_it_took_says_so_rather_than_that_its_loop_stopped():
    watch = ClientWatch()
    loop = _Polling(watch, _statistics())
    readiness = ready.fusion(_fusion(watch), stall_s=STALL_S)  # type: ignore[arg-type]
    loop.halt()  # it took records and works on them: it polls no more meanwhile
    watch.working()
    time.sleep(STALL_S / 2)
    assert "progress" not in _failing(readiness), "not yet"
    _until(lambda: "progress" in _failing(readiness))
    assert "have been in hand for" in _failing(readiness)["progress"]


def test_records_waiting_with_none_taken_fail_progress_and_a_lag_over_its_bound_fails_lag():
    watch = ClientWatch()
    loop = _Polling(watch, _statistics(end=500, position=10))
    readiness = ready.fusion(_fusion(watch), stall_s=STALL_S, max_lag=100)  # type: ignore[arg-type]
    try:
        _until(lambda: "progress" in _failing(readiness))
        failing = _failing(readiness)
        assert "490 records wait on iotrack.reads.raw.v1 and none was taken" in failing["progress"]
        assert "490 records behind on iotrack.reads.raw.v1, over 100" in failing["lag"]
        loop.statistics = _statistics(end=500, position=500)  # it caught up
        watch.took(490)
        _until(lambda: readiness.ready()[0])
    finally:
        loop.halt()


def test_a_lost_broker_fails_the_broker_check_after_its_grace():
    watch = ClientWatch()
    loop = _Polling(watch, _statistics(up=False))
    readiness = ready.fusion(_fusion(watch), stall_s=60)  # type: ignore[arg-type]
    try:
        _until(lambda: "broker" in _failing(readiness), timeout_s=10)
        assert "no broker reachable for" in _failing(readiness)["broker"]
        loop.statistics = _statistics(up=True)
        _until(lambda: readiness.ready()[0])
    finally:
        loop.halt()


def test_a_dead_thread_is_neither_alive_nor_ready_and_iotrack_ready_says_which_check():
    watch = ClientWatch()
    loop = _Polling(watch, _statistics())
    thread = threading.Thread(target=lambda: None, name="fusion-loop")
    thread.start()
    thread.join()
    worker = _fusion(watch, thread)
    worker.error = "RuntimeError: a bug"
    readiness = ready.fusion(worker, stall_s=60)  # type: ignore[arg-type]
    metrics.READINESS.add(readiness)
    try:
        alive, _ = readiness.alive()
        assert not alive
        failing = _failing(readiness)
        assert "thread fusion-loop died" in failing["fusion_thread"]
        assert failing["fusion"] == "stopped: RuntimeError: a bug"
        sample = metrics.REGISTRY.get_sample_value
        assert sample("iotrack_ready", {"process": "fusion", "check": "fusion_thread"}) == 0
        assert sample("iotrack_ready", {"process": "fusion", "check": "broker"}) == 1
        assert sample("iotrack_alive", {"process": "fusion"}) == 0
    finally:
        metrics.READINESS.remove(readiness)
        loop.halt()


def test_a_lost_database_makes_the_projection_not_ready():
    watch = ClientWatch()
    worker = _projection(watch)
    worker.database_lost = (time.monotonic() - 5, "connection refused")
    readiness = ready.projection(worker, stall_s=60)  # type: ignore[arg-type]
    reason = _failing(readiness)["database"]
    assert reason.startswith("the database is unavailable for 5 s")
    assert "connection refused" in reason


def test_the_api_is_not_ready_while_its_gate_state_is_stuck_and_dead_once_its_thread_died():
    watch = ClientWatch()
    loop = _Polling(watch, _statistics())
    thread = threading.Thread(target=loop.stop.wait, name="gate-state")
    thread.start()
    gate = SimpleNamespace(
        watch=watch,
        thread=thread,
        error=None,
        verdicts={"CONTAINER:CSQU3054383": {}},
        ready=threading.Event(),
        skipped=[],
        skipped_count=0,
        alive=thread.is_alive,
    )
    queries = Queries(NOWHERE)
    api = Api(credentials_of(["ready-unit-token-0001 customs"]), queries, gate)  # type: ignore[arg-type]
    readiness = api.readiness()
    try:
        assert _failing(readiness)["gate_state"] == "the verdicts are still loading"
        gate.ready.set()
        assert "gate_state" not in _failing(readiness)
        gate.error = "NotAvroError: not Avro"
        assert "reading the verdicts failed: NotAvroError" in _failing(readiness)["gate_state"]
        gate.error = None
        assert set(_failing(readiness)) == {"database"}, "only the database is away"
        loop.halt()
        thread.join(5)
        assert not readiness.alive()[0]
        assert "thread gate-state died" in _failing(readiness)["gate_state_thread"]
        status, health = api.health()
        assert (status, health["gate_state"]) == (503, "dead")
    finally:
        loop.halt()
        queries.close()


def test_iotrack_status_reads_each_registered_process_and_its_failing_check(tmp_path):
    watch = ClientWatch()
    loop = _Polling(watch, _statistics())
    readiness = ready.fusion(_fusion(watch), stall_s=STALL_S)  # type: ignore[arg-type]
    stop = serve_ops(readiness, 0, title="fusion", register=running.register(tmp_path, "fusion"))
    try:
        [found] = running.processes(tmp_path)
        assert (found.name, found.ready) == ("fusion", True), found
        loop.halt()
        _until(lambda: not running.processes(tmp_path)[0].ready)
        [found] = running.processes(tmp_path)
        assert found.reason.startswith("progress: the consumer of iotrack.reads.raw.v1 has not")
    finally:
        loop.halt()
        stop()
    assert running.processes(tmp_path) == [], "unregistered once it stops serving"


def _core(watch: ClientWatch) -> SimpleNamespace:
    return SimpleNamespace(watch=watch, error=None, starting=(time.monotonic(), "recovering"))


def test_the_core_is_not_ready_while_it_starts_again_nor_once_stopped_and_says_for_fusion_too():
    watch, fusion_watch = ClientWatch(), ClientWatch()
    polling = [_Polling(watch, _statistics()), _Polling(fusion_watch, _statistics())]
    core, fusion = _core(watch), _fusion(fusion_watch)
    try:
        readiness = ready.core(core, fusion, stall_s=STALL_S)
        assert "recovering" in _failing(readiness)["start"]
        core.starting = None
        _until(lambda: not _failing(readiness))
        core.error = "KafkaException: boom"
        assert _failing(readiness) == {"core": "stopped: KafkaException: boom"}
        core.error = None
        polling[1].halt()  # fusion's loop stops polling: its progress check, by its own name
        _until(lambda: "fusion_progress" in _failing(readiness))
        assert "progress" not in _failing(readiness)
        fusion.thread = threading.Thread(target=lambda: None)
        fusion.thread.start()
        fusion.thread.join()
        alive, found = readiness.alive()
        assert not alive
        assert [c.name for c in found if not c.ok] == ["fusion_thread"]
    finally:
        for loop in polling:
            loop.halt()
