"""End-to-end visibility of the outputs to a read_committed consumer (what a downstream
projection sees): per record, arrival wall time minus the output's processing time `t`.
Tails TOPIC from its end until killed (SIGTERM/SIGINT) or --seconds; writes per-second max
latency and the worst stretches. Usage: latmon.py TOPIC OUTFILE [--seconds S]"""
import argparse
import json
import signal
import time

from confluent_kafka import Consumer

import common

ap = argparse.ArgumentParser()
ap.add_argument("topic")
ap.add_argument("out")
ap.add_argument("--seconds", type=float, default=3600)
a = ap.parse_args()
stop = False


def _stop(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, _stop)
signal.signal(signal.SIGINT, _stop)
c = Consumer({"bootstrap.servers": common.BOOTSTRAP, "group.id": f"latmon-{time.time()}",
              "isolation.level": "read_committed", "auto.offset.reset": "latest",
              "enable.auto.commit": False})
c.subscribe([a.topic])
per_sec = {}
t0 = time.time()
n = 0
while not stop and time.time() - t0 < a.seconds:
    for m in c.consume(1000, 0.5):
        if m.error():
            continue
        now = time.time()
        lat = now - json.loads(m.value())["t"]
        s = int(now)
        per_sec[s] = max(per_sec.get(s, 0), lat)
        n += 1
c.close()
lats = sorted(per_sec.items())
worst = sorted(lats, key=lambda x: -x[1])[:10]
json.dump({"records": n, "per_second_max_latency": lats,
           "worst": [(time.strftime("%H:%M:%S", time.localtime(s)), round(v, 1)) for s, v in worst]},
          open(a.out, "w"))
print(json.dumps({"records": n, "worst": [(time.strftime("%H:%M:%S", time.localtime(s)), round(v, 1)) for s, v in worst]}))
