"""Peak resident memory of verification checks, each in a fresh process (``--level full`` stays under 2 GB).

Usage: ``PYTHONPATH=. python benchmarks/bench_memory.py --level full --schedule vdm M4 M2 I1``
prints one line per claim: peak RSS (MiB) of a process that imports the suite and runs every
check of that claim on the schedule, and its wall time. ``--baseline`` first measures a process
that only imports the suite.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, resource, sys, time, torch
torch.set_num_threads(1)
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.verification import registry, suite
claim, schedule, level = sys.argv[1:4]
started = time.perf_counter()
rows = [registry.run_check(c, get_schedule(schedule), level) for c in suite.load_checks() if claim and c.claim == claim]
print(json.dumps({"claim": claim or "(import only)", "statuses": [r.status for r in rows],
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": time.perf_counter() - started}))
"""


def measure(claim: str, schedule: str, level: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, claim, schedule, level], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("claims", nargs="+")
    parser.add_argument("--schedule", default="vdm")
    parser.add_argument("--level", default="full")
    parser.add_argument("--baseline", action="store_true")
    args = parser.parse_args()
    for claim in ([""] if args.baseline else []) + args.claims:
        row = measure(claim, args.schedule, args.level)
        print(f"{row['claim']:14} peak {row['peak_mib']:7.0f} MiB  {row['seconds']:7.1f} s  {row['statuses']}",
              flush=True)


if __name__ == "__main__":
    main()
