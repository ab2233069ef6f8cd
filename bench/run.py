"""Run every benchmark once and print each ratio against its bare baseline.

    make bench            # or: .venv/bin/python bench/run.py [seconds]

Each benchmark starts billgate and a bare Starlette app doing the same database work in
separate processes, drives both with the same load generator, one after the other, and
reports billgate / bare. Figures depend on the machine: record them with its description
(docs/performance.md).
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import catalog  # noqa: E402

BENCHMARKS = {
    "catalog query (products(first: 20))": catalog.run,
}


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'benchmark':42} {'billgate':>12} {'bare':>12} {'ratio':>7}  goal")
    for name, bench in BENCHMARKS.items():
        r = bench(seconds)
        print(f"{name:42} {r['billgate_rps']:>8.0f} r/s {r['bare_rps']:>8.0f} r/s "
              f"{r['ratio']:>7.2f}  >= 0.5")


if __name__ == "__main__":
    main()
