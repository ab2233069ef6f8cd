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

from bench import catalog, holds, hot_path, items, ledger_size, postgres  # noqa: E402

RATIO_BENCHMARKS = {
    "catalog query (products(first: 20))": catalog.run,
    "tryDecreaseItemQuantity(1)": items.run_try_decrease,
}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    base = postgres.base_url()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores ({_cpu_model()}), "
          f"Python {platform.python_version()}, "
          f"{postgres.server_version(base) if base else 'no PostgreSQL named'}")
    print(f"{'benchmark':42} {'billgate':>12} {'bare':>12} {'ratio':>7}  goal")
    for name, bench in RATIO_BENCHMARKS.items():
        try:
            r = bench(seconds)
        except Exception as exc:  # report and go on: one failed benchmark must not hide the rest
            print(f"{name:42} failed ({type(exc).__name__}: {exc})", flush=True)
            continue
        print(f"{name:42} {r['billgate_rps']:>8.0f} r/s {r['bare_rps']:>8.0f} r/s "
              f"{r['ratio']:>7.2f}  >= 0.5 (rounds {r['min_ratio']:.2f}-{r['max_ratio']:.2f})",
              flush=True)
    for subscribers in (300, 1000):
        try:
            fan = items.run_fan_out(subscribers)
        except Exception as exc:  # report and go on: one failed benchmark must not hide the rest
            print(f"{subscribers} subscribers: failed ({type(exc).__name__}: {exc})", flush=True)
            continue
        print(f"{f'{subscribers} subscribers of one item get a change':42} p50 {fan['p50_ms']:.1f} ms, "
              f"p99 {fan['p99_ms']:.1f} ms (goal for 1,000: p99 < 100 ms)", flush=True)
    try:
        print(holds.line(holds.run(seconds)), flush=True)
    except Exception as exc:  # report and go on
        print(f"reserve + commit: failed ({type(exc).__name__}: {exc})", flush=True)
    try:
        hot_path.print_tables(hot_path.run_both(seconds))
    except Exception as exc:  # report and go on
        print(f"hot path: failed ({type(exc).__name__}: {exc})", flush=True)
    flat = ledger_size.run()
    print(f"{'balance read, 1k vs 1M ledger rows':42} {flat['small_ms']:.3f} ms vs "
          f"{flat['large_ms']:.3f} ms, ratio {flat['ratio']:.2f} (goal within 1.2)", flush=True)


if __name__ == "__main__":
    main()
