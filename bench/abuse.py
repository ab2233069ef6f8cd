"""How long billgate takes to refuse abusive GraphQL documents (issue 13), in process.

    .venv/bin/python bench/abuse.py [levels-for-strawberry-limiters]

Prints the time to answer the fragment fan-out (``fragment F0 {...F1 ...F1}`` 20 levels)
with billgate's schema, the same validation with Strawberry's own depth and alias limiters
for comparison (fewer levels by default: each level doubles their time), and the time and
resident memory for 150 documents padded with a 950 KB comment. Not a test: the figures
depend on the machine.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from graphql import parse, specified_rules, validate  # noqa: E402
from strawberry.extensions.max_aliases import create_validator as aliases_rule  # noqa: E402
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule  # noqa: E402

from billgate.graphql.schema import build_schema  # noqa: E402


def fan_out(levels: int) -> str:
    chain = " ".join(f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels))
    return f"query {{ ...F0 }} {chain} fragment F{levels} on Query {{ __typename }}"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main() -> None:
    old_levels = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    schema = build_schema()
    start = time.perf_counter()
    result = await schema.execute(fan_out(20))
    took = time.perf_counter() - start
    print(f"fan-out, 20 levels, billgate: refused in {took * 1000:.1f} ms: {result.errors[0].message}")

    graphql_schema = schema._schema
    rules = [*specified_rules, depth_rule(10, None, None), aliases_rule(30)]
    document = parse(fan_out(old_levels))
    start = time.perf_counter()
    validate(graphql_schema, document, rules)
    old = time.perf_counter() - start
    print(f"fan-out, {old_levels} levels, Strawberry's limiters: validated in {old * 1000:.0f} ms "
          f"(x4 per two levels: ~{old * 2 ** (20 - old_levels):.1f} s at 20 levels)")

    before = rss_mb()
    padded = "{ __typename }\n#" + "x" * 950_000
    start = time.perf_counter()
    for n in range(150):
        result = await schema.execute(padded + str(n))  # distinct documents, as an attacker sends
    took = time.perf_counter() - start
    print(f"150 documents padded with 950 KB comments: refused in {took * 1000 / 150:.2f} ms each, "
          f"peak RSS {before:.0f} -> {rss_mb():.0f} MB: {result.errors[0].message}")


if __name__ == "__main__":
    asyncio.run(main())
