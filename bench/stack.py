"""The pieces every benchmark starts on loopback: a scratch database, server processes, memory.

Not a benchmark itself (`python -m bench.stack` only prints what it would use). Every
address is 127.0.0.1; every process is started in its own session and stopped by id.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin_engine():
    return create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")


def fresh_database(prefix: str = "somo_bench") -> str:
    """A new, migrated PostgreSQL database; returns its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    from core.migrate import upgrade

    upgrade(url)
    return url


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def start(cmd: list[str], env: dict[str, str], log_path: Path | None = None) -> subprocess.Popen:
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)


def start_uvicorn(target: str, port: int, env: dict[str, str], *, workers: int = 1, factory: bool = True,
                  log_path: Path | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--log-level", "warning", "--no-access-log", "--backlog", "4096",
           "--loop", "uvloop", "--http", "httptools"]
    if factory:
        cmd.append("--factory")
    proc = start(cmd, env, log_path)
    wait_port(port, proc, target)
    return proc


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group we started (uvicorn's and rq's children with it), then SIGKILL."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def group_pids(proc: subprocess.Popen) -> list[int]:
    """The process and its live children (uvicorn's workers), from /proc."""
    pids = [proc.pid]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == proc.pid:
            pids.append(int(entry.name))
    return pids


def cpu_seconds_of(pids: list[int]) -> float:
    """User + system CPU seconds of these live processes (/proc stat); gone ones count 0."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def host_cpu(stat: str = "/proc/stat") -> list[int]:
    """The machine's CPU time counters, all CPUs together (the first line of /proc/stat: user,
    nice, system, idle, iowait, irq, softirq, steal, ...), in ticks."""
    with open(stat) as fh:
        fields = fh.readline().split()
    return [int(x) for x in fields[1:9]] + [0] * max(0, 9 - len(fields))


def host_cpu_use(before: list[int], after: list[int]) -> dict[str, float]:
    """How the machine's CPU time went between two `host_cpu` readings, in % of all of it:
    `busy` (anything but idle and iowait, stolen time included) and `stolen` (steal: time
    the hypervisor gave to other guests while this one had work). A shared host that steals
    a tenth of the time takes it from the server being measured."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(spent)
    if total <= 0:
        return {"busy": 0.0, "stolen": 0.0}
    return {"busy": round(100 * (total - spent[3] - spent[4]) / total, 1),
            "stolen": round(100 * spent[7] / total, 1)}


def postgres_backends(database: str) -> list[int]:
    """The PostgreSQL backends serving `database` (their title names it: "postgres: [cluster:] user db ...")."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        words = title.split()
        if words[:1] == ["postgres:"] and database in words[2:4]:
            pids.append(int(entry.name))
    return pids


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (peak resident set) of a live process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


if __name__ == "__main__":
    print(f"admin database {PG_ADMIN}; processes on 127.0.0.1 only")
