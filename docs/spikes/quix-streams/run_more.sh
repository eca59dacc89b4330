#!/bin/sh
# after run_rest.sh: the bench again (its first try met a topic without a leader yet), then the
# SIGKILL runs with a downstream read_committed latency monitor: Quix's default random
# transactional.id, then a stable one per instance, then a 10 s transaction timeout.
cd "$(dirname "$0")"
while ! grep -q "restore1m rc" results/run_rest.log; do sleep 5; done
cd spike
PY=../.venv/bin/python
uptime
$PY bench.py --tag b1 --events 200000 --keys 2000 --what bare,quix1,quix2 > ../results/b1.bench.log 2>&1; echo "bench rc=$?"
uptime
for v in k2:random k3:stable k4:timeout10s; do
  run=${v%%:*}; mode=${v#*:}
  case $mode in
    random) extra="";;
    stable) extra="--stable-txn-id";;
    timeout10s) extra="--txn-timeout-ms 10000";;
  esac
  ($PY latmon.py $run.out ../results/$run.latency.json --seconds 230 > ../results/$run.latmon.log 2>&1 &)
  $PY recovery.py --run $run --kills 4 --every 30 --down 1 $extra > ../results/$run.recovery.log 2>&1; echo "$run ($mode) rc=$?"
  sleep 30
  uptime
done
