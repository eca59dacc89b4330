"""``make bench``: run every benchmark and print its figures."""

from __future__ import annotations

import sys

from bench import (
    api_gate_check,
    changelog,
    core_gauges,
    core_scale,
    core_worker,
    gate_check,
    ocr_repair,
    projection,
    rail,
    reader_throughput,
    startup,
    subscription_latency,
)

if __name__ == "__main__":
    for bench in (
        startup,
        ocr_repair,
        reader_throughput,
        core_worker,
        core_gauges,
        core_scale,
        changelog,
        gate_check,
        rail,
        projection,
        api_gate_check,
        subscription_latency,
    ):
        print(f"\n== {bench.__name__}", flush=True)
        sys.argv = [bench.__name__]
        bench.main()
