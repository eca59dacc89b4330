"""The spike's Quix Streams app: per-key state (count, running hash, last N) in the state store,
one output per input with the new state. exactly-once by default.

env/args: --input T --output T --group G --state-dir D --instance NAME [--codec avro|json]
          [--commit-interval S] [--guarantee exactly-once|at-least-once] [--repartition]
"""
from __future__ import annotations

import argparse
import logging
import os
import time

from quixstreams import Application
from quixstreams.models import TopicConfig

import common


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--input", default="spike.in")
    p.add_argument("--output", default="spike.out")
    p.add_argument("--group", default="spike-core")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--instance", default=str(os.getpid()))
    p.add_argument("--codec", default="avro", choices=["avro", "json"])
    p.add_argument("--commit-interval", type=float, default=1.0)
    p.add_argument("--guarantee", default="exactly-once")
    p.add_argument("--session-timeout-ms", type=int, default=10000)
    p.add_argument("--offset-reset", default="earliest")
    p.add_argument("--repartition", action="store_true",
                   help="two stages: state by unit, then group_by(iot) and state by iot")
    p.add_argument("--loglevel", default="INFO")
    p.add_argument("--txn-id", default="",
                   help="a stable transactional.id (default: Quix's random uuid4 per start)")
    p.add_argument("--txn-timeout-ms", type=int, default=0,
                   help="transaction.timeout.ms (default: librdkafka's 60000)")
    p.add_argument("--no-instrument", action="store_true",
                   help="skip the recovery logging hooks of instrument.py")
    a = p.parse_args()
    if not a.no_instrument:
        import instrument  # noqa: F401  (logs only)
    if os.environ.get("SPIKE_LSO_FIX"):
        import lso_fix  # noqa: F401  (candidate fix, see lso_fix.py)
    if os.environ.get("SPIKE_STALL_FILE"):
        import stall_hook  # noqa: F401  (test-only: repro_lso.py)

    app = Application(
        broker_address=common.BOOTSTRAP,
        consumer_group=a.group,
        state_dir=a.state_dir,
        processing_guarantee=a.guarantee,
        commit_interval=a.commit_interval,
        auto_offset_reset=a.offset_reset,
        loglevel=a.loglevel,
        producer_extra_config={
            **({"transactional.id": a.txn_id} if a.txn_id else {}),
            **({"transaction.timeout.ms": a.txn_timeout_ms} if a.txn_timeout_ms else {}),
        },
        consumer_extra_config={"session.timeout.ms": a.session_timeout_ms,
                               "heartbeat.interval.ms": max(1000, a.session_timeout_ms // 5)},
    )
    tin = app.topic(a.input, value_deserializer="json", key_deserializer="str")
    tout = app.topic(a.output, value_serializer="json", key_serializer="str",
                     config=TopicConfig(num_partitions=6, replication_factor=1))
    inst = a.instance

    if a.codec == "avro":
        def load(state, k):
            raw = state.get_bytes(k)
            return None if raw is None else common.avro_decode(raw)

        def save(state, k, s):
            state.set_bytes(k, common.avro_encode(s))
    else:
        def load(state, k):
            return state.get(k)

        def save(state, k, s):
            state.set(k, s)

    def process(value, state):
        # one state value per message key, stored under a fixed key inside the key's namespace
        s = common.step(load(state, "s"), value["v"])
        save(state, "s", s)
        return {"k": value["k"], "seq": value["seq"], **s, "inst": inst, "t": time.time()}

    sdf = app.dataframe(tin)
    if a.repartition:
        # stage 1 (binding ledger) keyed by unit, the message key; then group_by the IOT_ID the
        # event names (a repartition topic, inside the same transactions); stage 2 (tracking)
        # keeps its own state per IOT_ID.
        def ledger(v, st):
            s = common.step(load(st, "s"), v["v"])
            save(st, "s", s)
            return {**v, "ledger_count": s["count"], "ledger_hash": s["hash"]}

        def tracking(v, st):
            s = common.step(load(st, "s"), v["v"])
            save(st, "s", s)
            return {"k": v["iot"], "unit": v["k"], "unit_seq": v["seq"], "v": v["v"],
                    "ledger_count": v["ledger_count"], "ledger_hash": v["ledger_hash"],
                    **s, "inst": inst, "t": time.time()}

        sdf = sdf.apply(ledger, stateful=True)
        sdf = sdf.group_by(lambda v: v["iot"], name="by-iot")
        sdf = sdf.apply(tracking, stateful=True)
    else:
        sdf = sdf.apply(process, stateful=True)
    sdf.to_topic(tout)
    logging.getLogger("spike").info("instance %s starting", inst)
    app.run()


if __name__ == "__main__":
    main()
