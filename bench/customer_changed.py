"""What one ``customerChanged`` change costs with N identical subscriptions, against the
same change with one subscription (the baseline), measured in the same run.

    .venv/bin/python bench/customer_changed.py [sockets] [per_socket] [changes]

A real ``billgate serve`` (SQLite, example catalog); ``sockets`` WebSockets with the
server key, each with ``per_socket`` identical ``customerChanged`` subscriptions of one
customer. For each change (a ``grantProduct`` of a credit pack) it records the server's
CPU time (from /proc) until every subscription has the new state, the time until the
last one has it, and how long a trivial query sent right after the change waits. The
ratio N / 1 is the figure: one change should cost about the same whatever the number of
identical subscriptions (the issue measured 10-29 s of server time for 2,000).
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.catalog import prepare  # noqa: E402
from bench.servers import billgate, free_port  # noqa: E402
from bench.ws_client import Subscriber, subscribe  # noqa: E402

KEY = "sk_bench_key"
AUTH = {"Authorization": f"Bearer {KEY}"}
WATCH = ("subscription($c: CustomerRef!) { customerChanged(customer: $c) { customerId "
         "products(first: 20) { edges { node { productId quantity } } } "
         "subscriptions(first: 5) { edges { node { status } } } } }")
GRANT = ("mutation($c: CustomerRef!) { grantProduct(input: {customer: $c, productId: "
         "\"credit-pack\"}) { userErrors { code } } }")
TICK = 1.0 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK  # utime + stime


async def _open(port: int, sockets: int, per_socket: int, customer: str) -> list[Subscriber]:
    variables = {"c": {"type": "USER", "customerId": customer}}
    clients = [await subscribe(port, f"Bearer {KEY}", WATCH, variables) for _ in range(sockets)]
    for client in clients:
        for n in range(2, per_socket + 1):
            client.send({"id": str(n), "type": "subscribe",
                         "payload": {"query": WATCH, "variables": variables}})
    for client in clients:  # every snapshot in
        while sum(1 for _, m in client.messages if m.get("type") == "next") < per_socket:
            await client.next_message()
    return clients


async def _changes(port: int, pid: int, clients: list[Subscriber], per_socket: int,
                   customer: str, changes: int) -> dict[str, float]:
    cpu, last, trivial = [], [], []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH,
                                 timeout=120) as http:
        for change in range(changes + 1):
            await asyncio.sleep(0.5)  # the previous change has settled
            seen = [len(c.messages) for c in clients]
            started_cpu, started = cpu_seconds(pid), time.perf_counter()
            response = await http.post("/graphql", json={"query": GRANT, "variables": {
                "c": {"type": "USER", "customerId": customer}}})
            assert response.json()["data"]["grantProduct"]["userErrors"] == [], response.text
            asked = time.perf_counter()
            await http.post("/graphql", json={"query": "{ __typename }"})
            waited = time.perf_counter() - asked
            for client, before in zip(clients, seen, strict=True):
                while len(client.messages) < before + per_socket:
                    await client.next_message()
            done = max(c.messages[b + per_socket - 1][0] for c, b in zip(clients, seen, strict=True))
            if change:  # the first change warms caches up
                cpu.append(cpu_seconds(pid) - started_cpu)
                last.append(done - started)
                trivial.append(waited)
    return {"cpu_ms": statistics.median(cpu) * 1000, "last_ms": statistics.median(last) * 1000,
            "trivial_ms": statistics.median(trivial) * 1000}


def measure(sockets: int, per_socket: int, changes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        prepare(url)
        port = free_port()
        env = {"BILLGATE_DATABASE_URL": url, "BILLGATE_TEST_MODE": "true",
               "BILLGATE_SECRET_KEYS": KEY, "BILLGATE_SCHEDULER": "off",
               "BILLGATE_JSON_LOGS": "false"}
        with billgate(env, port) as server:
            async def run() -> dict[str, float]:
                clients = await _open(port, sockets, per_socket, "bench-customer")
                gc.collect()
                gc.disable()  # the client's own collector would pause the timestamps
                try:
                    return await _changes(port, server.pid, clients, per_socket,
                                          "bench-customer", changes)
                finally:
                    gc.enable()
                    for client in clients:
                        client.close()
            return asyncio.run(run())


def main() -> None:
    sockets = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    per_socket = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    changes = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    base = measure(1, 1, changes)
    many = measure(sockets, per_socket, changes)
    n = sockets * per_socket
    print(f"customerChanged, one change (median of {changes}):")
    print(f"{'':34} {'server CPU':>12} {'last state':>12} {'{ __typename }':>15}")
    for label, r in (("1 subscription (baseline)", base),
                     (f"{n} identical subscriptions", many)):
        print(f"{label:34} {r['cpu_ms']:>9.0f} ms {r['last_ms']:>9.0f} ms {r['trivial_ms']:>12.0f} ms")
    print(f"ratio {n} / 1: server CPU {many['cpu_ms'] / max(base['cpu_ms'], TICK * 1000):.1f}x, "
          f"last state {many['last_ms'] / base['last_ms']:.1f}x", flush=True)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
