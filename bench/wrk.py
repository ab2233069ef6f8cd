"""Load with wrk (one thread, a Lua script POSTing one GraphQL request) and the CPU each
party spent meanwhile: the billgate processes, the database's PostgreSQL backends, wrk
itself and the whole machine (``/proc``, Linux)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
LUA = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = {auth}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) errors = 0 end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then errors = errors + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("errors") end
  io.write("graphql-errors: " .. total .. "\\n")
end
"""


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")


def write_script(path: Path, request: dict[str, object], authorization: str) -> Path:
    """A wrk script POSTing ``request`` as JSON (a JSON string is a valid Lua literal)."""
    path.write_text(LUA.format(body=json.dumps(json.dumps(request)),
                               auth=json.dumps(authorization)))
    return path


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's supervisor and its workers)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            pids += process_tree(int(child))
    return pids


def backends(database: str) -> list[int]:
    """The PostgreSQL backends connected to ``database`` (same machine)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if cmdline.startswith("postgres: ") and f" {database} " in cmdline:
                found.append(int(entry.name))
    return found


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # a process that ended meanwhile
            total += _cpu_seconds(pid)
    return total


def machine() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


@dataclass
class Round:
    rate: float
    errors: int
    seconds: float
    server_cpu: float
    backend_cpu: float
    wrk_cpu: float
    machine_busy: float  # share of all cores, other users of the machine included

    @property
    def requests(self) -> float:
        return self.rate * self.seconds


def run(port: int, script: Path, seconds: float, server_pid: int, database: str = "",
        connections: int = 16) -> Round:
    """``seconds`` of wrk on ``port``, with the CPU of everyone involved."""
    pids = process_tree(server_pid)
    db_pids = backends(database) if database else []
    server0, db0, machine0 = cpu_of(pids), cpu_of(db_pids), machine()
    proc = subprocess.Popen(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s",
                             str(script), f"http://127.0.0.1:{port}/graphql"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = proc.stdout.read().decode() if proc.stdout else ""
    if database:
        db_pids = sorted(set(db_pids) | set(backends(database)))
    busy, total = (after - start for after, start in zip(machine(), machine0, strict=True))
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"graphql-errors: (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if rate is None or errors is None:
        raise RuntimeError(f"wrk said: {output}")
    return Round(rate=float(rate.group(1)),
                 errors=int(errors.group(1)) + int(non_2xx.group(1) if non_2xx else 0),
                 seconds=seconds, server_cpu=cpu_of(pids) - server0,
                 backend_cpu=cpu_of(db_pids) - db0,
                 wrk_cpu=usage.ru_utime + usage.ru_stime, machine_busy=busy / total)
