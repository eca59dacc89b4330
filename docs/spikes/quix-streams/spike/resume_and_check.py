"""Finish a run whose harness stopped early: one instance (its own fresh state dir, restoring from
the changelogs) runs until the group has consumed the input and repartition topics, then the
checker. Usage: resume_and_check.py RUN [--repartition]"""
import subprocess
import sys
import time

import chaos
from chaos import HERE, PY, Instances, log

run = sys.argv[1]
rep = "--repartition" in sys.argv
inst = Instances(run, 1, "avro", ["--repartition"] if rep else [])
inst.names = ["resume"]
t0 = time.time()
inst.start("resume")
chaos.wait_caught_up(f"{run}-core", f"{run}.in", 1200)
log(f"caught up after {time.time() - t0:.1f}s")
inst.term_all()
chk = [PY, str(HERE / ("check_repartition.py" if rep else "check.py")), "--input", f"{run}.in",
       "--output", f"{run}.out"]
r = subprocess.run(chk, cwd=HERE, capture_output=True, text=True)
print(r.stdout, r.stderr[-1000:])
