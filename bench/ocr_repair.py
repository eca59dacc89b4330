"""OCR repair outcomes on the simulator's injected errors (pure; no broker needed).

For each simulated container read the truth is known, so every outcome is scored: correct as
read, misread but valid as read (letters 11 apart: the check digit cannot see it), repaired to
the truth, repaired to something else (must never happen), ambiguous (manual review), invalid.
Run twice: without any expected list, and with the expected list a gate has when the truck's
RFID tag (60 % of units carry one) or a pre-advice names the unit.

Run: ``.venv/bin/python -m bench.ocr_repair [--reads N] [--seed S]``.
"""

from __future__ import annotations

import argparse
from collections import Counter

from processors.ocr_repair import Candidate, Outcome, repair
from readers.simulator import Faults, Simulator


def score(reads: int, error_rate: float, seed: int, with_expected: bool) -> Counter[str]:
    simulator = Simulator(seed, Faults(ocr_error_rate=error_rate))
    tally: Counter[str] = Counter()
    for _ in range(reads):
        truth = simulator.container_code()
        view, read = simulator.ocr_unit(truth)
        candidates = [Candidate(c["code"], c["confidence"]) for c in view["candidates"]]
        tagged = simulator.random.random() < simulator.faults.rfid_tagged_share
        expected = {truth} if with_expected and tagged else set()
        result = repair("container", read, candidates, expected)
        injected = read != truth
        tally["injected" if injected else "clean"] += 1
        if result.outcome is Outcome.VALID:
            tally["valid, correct" if result.value == truth else "valid as read, but wrong"] += 1
        elif result.outcome is Outcome.REPAIRED:
            tally["repaired to the truth" if result.value == truth else "WRONGLY REPAIRED"] += 1
        else:
            tally[str(result.outcome).lower()] += 1
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rows = [
        "valid, correct",
        "valid as read, but wrong",
        "repaired to the truth",
        "WRONGLY REPAIRED",
        "ambiguous",
        "invalid",
    ]
    print(f"{args.reads} simulated container reads per run, seed {args.seed}")
    for error_rate in (0.02, 0.20):
        for with_expected in (False, True):
            tally = score(args.reads, error_rate, args.seed, with_expected)
            injected = tally["injected"]
            label = "with expected units" if with_expected else "no expected list"
            print(f"\nOCR error rate {error_rate:.0%}, {label}: {injected} injected errors")
            for row in rows:
                share = f"{100 * tally[row] / injected:5.1f} % of injected" if injected else ""
                print(f"  {row:<26} {tally[row]:>7}   {'' if row == 'valid, correct' else share}")


if __name__ == "__main__":
    main()
