#!/bin/sh
# the measurements after the two crash runs, one after another (they share 2 busy cores)
cd "$(dirname "$0")/spike"
PY=../.venv/bin/python
uptime
$PY recovery.py --run k1 --kills 4 --every 30 --down 1 > ../results/k1.recovery.log 2>&1; echo "recovery rc=$?"
uptime
$PY bench.py --tag b1 --events 200000 --keys 2000 --what bare,quix1,quix2 > ../results/b1.bench.log 2>&1; echo "bench rc=$?"
uptime
$PY restore.py --keys 100000 --tag r100k > ../results/r100k.log 2>&1; echo "restore100k rc=$?"
uptime
$PY chaos.py --run g1 --seed 4 --repartition --kill-every 5:12 > ../results/g1.log 2>&1; echo "repartition chaos rc=$?"
uptime
$PY restore.py --keys 1000000 --tag r1m > ../results/r1m.log 2>&1; echo "restore1m rc=$?"
uptime
