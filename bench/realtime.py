"""Live chat at scale over WebSockets (issue 4; figures printed, no assertions).

Against one running ``fareroom serve`` process (worker inside, on 127.0.0.1), N client–agent
pairs each hold an open, metered session: the client's page on ``/ws/client`` (resume token)
and the agent's console on ``/ws/agent`` (sign-in cookie), both heartbeating every 10 s while
the worker ticks every meter and pushes the update to both. Sessions, agents, visits and
sign-ins are written in bulk beforehand (what the contact form, the card and the routing
would have made); the sockets then say hello as real pages do. The load comes from two Node
processes (``bench/realtime_client.js``, the ``ws`` library): one for the clients, one for
the agents, since one process may hold at most ``ulimit -Hn`` sockets.

In the same run, the Node peer (the folder ``FAREROOM_BENCH_PEER`` names, ``ws-meter``: the
same metering model on Node's ``ws``, kept outside this repository; copied to
``var/bench/ws-meter`` and ``npm install``-ed there) serves as many sockets as Fareroom
held (its sessions are one socket each) at the same tick and heartbeat, loaded by the same
client (two processes), and is measured from outside in the same way:

- the window: once every socket is answered and 15 s have passed, exactly K ticks, from
  half a tick after a tick (its phase read from the updates' stamps) to half a tick after
  the K-th; the updates counted are those the K ticks stamped, wherever they arrive;
- CPU: the scheduler's nanoseconds of every thread of the server process
  (``/proc/PID/task/*/schedstat``) over the window, plus, on PostgreSQL, those of the
  backends connected to the bench's database (on SQLite the database is in the process);
  per delivered update, and its inverse, updates per CPU-second;
- update lateness p50/p99: arrival minus the first stamp of the update's tick (Fareroom
  stamps each batch it reads, the peer each message it sends; the first stamp of a tick
  is its start on both);
- memory per connection: the server's RSS at the window's end per socket (the basis of
  the ratio), and for Fareroom its growth from before the first socket.

Ratios are printed with the CPU per update of both beside them, at both ticks. Targets:
≥ 10 000 pairs with p99 ≤ 250 ms at both ticks, ≤ 16 KiB per connection, ≥ 0.4 × the
Node peer's updates per CPU-second.

Usage: ``python bench/realtime.py [pairs, default 2000] [ticks at the 30-s tick, default 2]
[ticks at the 1-s tick, default 20]`` (about 7 minutes at the defaults; the connect phase
grows with the pairs: 9 900 pairs take about 20).
``FAREROOM_BENCH_DATABASES=sqlite`` (default: PostgreSQL when it answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import PG_ADMIN, ROOT, fresh_databases
from fareroom.accounts.service import sha256
from fareroom.bootstrap import bootstrap
from fareroom.config import Settings
from fareroom.models.business import User, WebSession
from fareroom.models.chat import AgentPresence, ChatVisit, RoomAgent
from fareroom.models.metering import ChatSession

sys.path.insert(0, str(ROOT))
from tests.support.servers import free_port, wait_http  # noqa: E402

PEER = os.environ.get("FAREROOM_BENCH_PEER")  # the Node peer, kept outside this repository
WORK = ROOT / "var" / "bench"
NODE = WORK / "ws-meter"
HEARTBEAT = 10
OFFLINE_AFTER = 600  # the largest the setting allows
PRESENCE_TIMEOUT = 3600  # and no session of a page still waiting to connect is ended
SETTLE = 15  # seconds after the last welcome before measuring: the hellos' own work ends
TARIFF = {"block_minutes": 5, "block_price": 1000, "preauth_amount": 2000}


async def seed(url: str, pairs: int, folder: Path) -> None:
    """N agents signed in, each in an open live session with a connected visit; writes the
    agents' cookies and the clients' resume tokens to ``folder``."""
    ctx = bootstrap(Settings(_env_file=None, database_url=url,  # type: ignore[call-arg]
                             mail_dir=str(folder / "mail")))  # fmt: skip
    assert ctx.sandbox is not None
    try:
        async with ctx.unit_of_work() as s:
            made = await s.accounts.create_business(
                name="Bench", owner_email=f"bench-{os.getpid()}@example.com",
                owner_password="correct horse battery")  # fmt: skip
            biz = made.business
            view = await s.chat.create_room(biz, name="Room", terms="Terms", tariff=TARIFF)
            client = await s.clients.create(biz.id, name="Ada", email="ada@example.com")
        token = await ctx.sandbox.tokenize(number="4242424242424242", exp_month=12,
                                           exp_year=2035)  # fmt: skip
        async with ctx.unit_of_work() as s:
            card = (await s.clients.add_card(biz.id, client.id, token=token)).card
        now = datetime.now(UTC)
        later = now + timedelta(days=1)
        tables: dict[Any, list[dict[str, Any]]] = {t: [] for t in (
            User.__table__, WebSession.__table__, RoomAgent.__table__, AgentPresence.__table__,
            ChatSession.__table__, ChatVisit.__table__)}  # fmt: skip
        cookies, tokens = [], []
        for i in range(pairs):
            uid, sid, vid = f"usr_bench{i:07d}", f"cs_bench{i:07d}", f"vis_bench{i:07d}"
            cookie, secret = f"bench-cookie-{i}-{os.getpid()}", f"bench-secret-{i}"
            cookies.append(cookie)
            tokens.append(f"{vid}.{secret}")
            tables[User.__table__].append({
                "id": uid, "business_id": biz.id, "email": f"agent{i}-{biz.id}@example.com",
                "name": f"Agent {i}", "role": "agent", "password_hash": "-",
                "created_at": now})  # fmt: skip
            tables[WebSession.__table__].append({
                "token_hash": sha256(cookie), "user_id": uid, "created_at": now,
                "expires_at": later})  # fmt: skip
            tables[RoomAgent.__table__].append({"room_id": view.room.id, "user_id": uid})
            tables[AgentPresence.__table__].append({
                "user_id": uid, "business_id": biz.id, "status": "online", "idle_since": now,
                "updated_at": now})  # fmt: skip
            tables[ChatSession.__table__].append({
                "id": sid, "business_id": biz.id, "room_id": view.room.id, "agent_id": uid,
                "client_id": client.id, "card_id": card.id, "tariff_id": view.room.tariff_id,
                "agent_may_start": False, "agent_may_pause": False, "terms": "Terms",
                "terms_accepted_at": now, "opened_at": now, "status": "open", "collected": 0,
                "abandoned": 0, "meter_seconds": 0, "meter_origin": now,
                "meter_state": "running", "live": True, "updated_at": now})  # fmt: skip
            tables[ChatVisit.__table__].append({
                "id": vid, "business_id": biz.id, "room_id": view.room.id,
                "client_id": client.id, "question": "Hello?", "status": "connected",
                "token_hash": sha256(secret), "terms": "Terms", "terms_accepted_at": now,
                "card_id": card.id, "session_id": sid, "created_at": now, "queued_at": now,
                "connected_at": now})  # fmt: skip
        for table, rows in tables.items():
            for start in range(0, len(rows), 2000):
                async with ctx.unit_of_work() as s:
                    await s.session.execute(table.insert(), rows[start : start + 2000])
    finally:
        await ctx.close()
    (folder / "agents.txt").write_text("\n".join(cookies) + "\n")
    (folder / "clients.txt").write_text("\n".join(tokens) + "\n")


class Proc:
    """CPU seconds and RSS of a process, from /proc. The CPU is the scheduler's own count
    of nanoseconds on a CPU (``/proc/PID/task/*/schedstat``, first field), summed over the
    process's threads (Node's GC and libuv threads, aiosqlite's): the same reading for
    every process measured, at µs precision, where ``/proc/PID/stat``'s utime + stime
    counts 10-ms ticks. A thread that ends inside the window takes its time with it (the
    ones here live as long as their process)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def cpu(self) -> float:
        total = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that just ended
                total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


class Database:
    """The database's share of the work: on PostgreSQL, the backends connected to the
    bench's database (the server's pool, its worker's; read from ``pg_stat_activity``),
    measured like the servers; on SQLite nothing apart (it runs inside the server)."""

    def __init__(self, url: str) -> None:
        self.name = url.rsplit("/", 1)[1] if url.startswith("postgresql") else None

    def pids(self) -> list[int]:
        if self.name is None:
            return []

        async def query() -> list[int]:
            import asyncpg

            conn = await asyncpg.connect(PG_ADMIN)
            try:
                rows = await conn.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.name
                )
            finally:
                await conn.close()
            return [row["pid"] for row in rows]

        return asyncio.run(query())


def cpu_of(pids: list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError):  # a backend that just ended
            found[pid] = Proc(pid).cpu()
    return found


class Load:
    """A load client (``realtime_client.js``): its "tick" lines collected as they come,
    the others read in turn."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "NODE_PATH": str(NODE / "node_modules")}
        script = str(ROOT / "bench" / "realtime_client.js")
        self.proc = subprocess.Popen(["node", script, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, cwd=NODE, env=env)  # fmt: skip
        self.ticks: list[float] = []
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("tick "):
                self.ticks.append(float(line.split()[1]))
            else:
                self.lines.put(line.strip())
        self.lines.put("")  # it exited

    def line(self, prefix: str) -> str:
        while True:
            line = self.lines.get(timeout=1200)
            if line.startswith(prefix):
                return line
            if not line:
                raise RuntimeError(f"the load client exited before its '{prefix}' line")

    def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def end(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # it exits (and closes its sockets) only now
        self.proc.wait(timeout=30)


def _sleep_until(at: float) -> None:
    time.sleep(max(0.0, at - time.time()))


def measure(server: Proc, db: Database, loads: list[Load], tick: int, ticks: int
            ) -> dict[str, Any]:  # fmt: skip
    """Once every socket is answered and ``SETTLE`` seconds have passed: a window of
    exactly ``ticks`` ticks, from half a tick after one (read from the updates' stamps)
    to half a tick after the last; the server's and its database's CPU over it, the
    updates of those ticks as the load clients counted them."""
    ready = [load.line("ready").split() for load in loads]
    time.sleep(SETTLE)
    while not loads[0].ticks:
        time.sleep(0.1)
    w0 = loads[0].ticks[-1] + tick / 2
    while w0 < time.time() + 1.5:  # time to find the database's backends first
        w0 += tick
    w1 = w0 + ticks * tick
    _sleep_until(w0 - 1)
    pids0 = db.pids()
    _sleep_until(w0)
    cpu0, db0 = server.cpu(), cpu_of(pids0)
    _sleep_until(w1)
    cpu1, db1 = server.cpu(), cpu_of(db.pids())
    rss = server.rss_kib()
    time.sleep(2)  # the last tick's updates still on their way
    for load in loads:
        load.say(f"report {w0} {w1}")
    done = [json.loads(load.line("{")) for load in loads]
    db_cpu = sum(cpu - db0.get(pid, 0.0) for pid, cpu in db1.items())
    updates = sum(d["updates"] for d in done)
    cpu = cpu1 - cpu0 + db_cpu
    return {"sockets": sum(int(r[1]) for r in ready), "failed": sum(int(r[2]) for r in ready),
            "connect_s": max(float(r[3]) for r in ready), "updates": updates,
            "ticks": max(d["ticks"] for d in done),
            "open": [d["welcomed"] - d["closed"] for d in done],
            "p50_ms": max(d["p50_ms"] or 0 for d in done),
            "p99_ms": max(d["p99_ms"] or 0 for d in done),
            "max_ms": max(d["max_ms"] or 0 for d in done),
            "cpu_s": cpu, "db_cpu_s": db_cpu, "backends": len(db1),
            "updates_per_cpu_s": updates / cpu if cpu else 0.0,
            "rss_kib": rss, "errors": [d["errors"] for d in done]}  # fmt: skip


def fareroom_run(url: str, pairs: int, tick: int, ticks: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="fareroom-bench-rt-"))
    started = time.perf_counter()
    asyncio.run(seed(url, pairs, folder))
    print(f"  seeded {pairs} pairs in {time.perf_counter() - started:.1f} s")
    port = free_port()
    env = {**os.environ, "FAREROOM_DATABASE_URL": url, "FAREROOM_SECRET_KEY": "bench",
           "FAREROOM_BASE_URL": f"http://127.0.0.1:{port}",
           "FAREROOM_MAIL_DIR": str(folder / "mail"), "FAREROOM_METER_TICK_SECONDS": str(tick),
           "FAREROOM_HEARTBEAT_SECONDS": str(HEARTBEAT),
           # Pages still waiting for their hello after 30 s would be recorded offline (the
           # hub never heard them) and their sessions ended at 90 s; the connect phase here
           # is longer than that, so both are widened. Steady-state work is the same.
           "FAREROOM_OFFLINE_AFTER_SECONDS": str(OFFLINE_AFTER),
           "FAREROOM_PRESENCE_TIMEOUT_SECONDS": str(PRESENCE_TIMEOUT),
           "FAREROOM_LOG_LEVEL": "WARNING"}  # fmt: skip
    log = (WORK / f"server-tick{tick}.log").open("w")  # a pipe nobody reads would block it
    server = subprocess.Popen([sys.executable, "-m", "fareroom", "serve", "--quiet",
                               "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=log)  # fmt: skip
    loads: list[Load] = []
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=120,  # a busy machine
                  proc=server)  # type: ignore[arg-type]  # fmt: skip
        time.sleep(2)
        proc = Proc(server.pid)
        rss0 = proc.rss_kib()
        loads = [Load(f"ws://127.0.0.1:{port}", role, str(folder / f"{role}s.txt"),
                      str(HEARTBEAT), str(tick)) for role in ("client", "agent")]  # fmt: skip
        ours = measure(proc, Database(url), loads, tick, ticks)
    finally:
        server.send_signal(signal.SIGKILL)  # before the clients' sockets close: no offline storm
        server.wait()
        for load in loads:
            load.end()
        shutil.rmtree(folder, ignore_errors=True)
        log.close()
    ours["tracebacks"] = (WORK / f"server-tick{tick}.log").read_text().count("Traceback")
    ours["kib_per_conn"] = (ours["rss_kib"] - rss0) / max(ours["sockets"], 1)
    return ours


def install_peer() -> None:
    """The peer copied to var/bench/ws-meter and its ``ws`` installed there (also used by
    our load client); its own folder is left as it is."""
    if not (NODE / "node_modules" / "ws").exists():
        if not PEER:
            raise SystemExit("Set FAREROOM_BENCH_PEER to the Node peer's folder (ws-meter).")
        shutil.copytree(PEER, NODE, dirs_exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=NODE,
                       check=True)  # fmt: skip


def node_run(sessions: int, tick: int, ticks: int) -> dict[str, Any]:
    """The peer's server with ``sessions`` sockets, measured from outside as Fareroom is:
    its CPU and RSS from /proc, its updates counted by our load client (two processes,
    like Fareroom's), over the same whole number of ticks. What the peer prints of itself
    is not used: it counts n ticks over n - 1 intervals and its CPU in whole percent."""
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="fareroom-bench-peer-"))
    halves = [range(0, sessions // 2), range(sessions // 2, sessions)]
    for i, half in enumerate(halves):
        (folder / f"peer{i}.txt").write_text("".join(f"s{n}\n" for n in half))
    server = subprocess.Popen(
        ["node", "meter_server.js", str(port), str(tick), "90", "3600", str(sessions)],
        cwd=NODE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    loads: list[Load] = []
    try:
        time.sleep(0.5)
        loads = [Load(f"ws://127.0.0.1:{port}", "peer", str(folder / f"peer{i}.txt"),
                      str(HEARTBEAT), str(tick)) for i in range(2)]  # fmt: skip
        return measure(Proc(server.pid), Database(""), loads, tick, ticks)
    finally:
        server.kill()
        server.wait()
        for load in loads:
            load.end()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    slow = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    fast = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"# open files per process: {hard} at most (ulimit -Hn); a server holding N pairs "
          f"needs 2N sockets + its own files")  # fmt: skip
    install_peer()
    wanted = os.environ.get("FAREROOM_BENCH_DATABASES", "postgresql,sqlite").split(",")[0]
    os.environ["FAREROOM_BENCH_DATABASES"] = wanted
    rows = []
    for tick, ticks in ((30, slow), (1, fast)):
        [(kind, url)] = list(fresh_databases(f"rt{tick}").items())[:1]
        print(f"\n== {pairs} pairs, tick {tick} s, heartbeats every {HEARTBEAT} s, {kind}, "
              f"window {ticks} ticks ({ticks * tick} s)")  # fmt: skip
        ours = fareroom_run(url, pairs, tick, ticks)
        ours["held"] = min(ours["open"])  # both sockets of a pair
        print(f"  fareroom: pairs held {ours['held']} ({ours['sockets']} sockets welcomed, "
              f"{ours['failed']} refused, connected in {ours['connect_s']:.0f} s); "
              f"updates {ours['updates']} from {ours['ticks']} ticks; lateness p50 "
              f"{ours['p50_ms']} ms, p99 {ours['p99_ms']} ms "
              f"(max {ours['max_ms']} ms)")  # fmt: skip
        if not ours["updates"]:
            print("  fareroom: no update arrived in the window")
            continue
        print(f"  fareroom: CPU {ours['cpu_s']:.3f} s (of which the database's "
              f"{ours['db_cpu_s']:.3f} s in {ours['backends']} backends) → "
              f"{1e6 / ours['updates_per_cpu_s']:.1f} µs per update "
              f"({ours['updates_per_cpu_s']:.0f} updates/CPU-s); memory "
              f"{ours['kib_per_conn']:.1f} KiB per connection (whole RSS "
              f"{ours['rss_kib'] / ours['sockets']:.1f} KiB per connection); errors "
              f"{ours['errors']}; tracebacks in var/bench/server-tick{tick}.log: "
              f"{ours['tracebacks']}")  # fmt: skip
        peer = node_run(ours["sockets"], tick, ticks)
        print(f"  node-ws peer: {sum(peer['open'])} of {peer['sockets']} sessions held; "
              f"updates {peer['updates']} from {peer['ticks']} ticks; lateness p50 "
              f"{peer['p50_ms']} ms, p99 {peer['p99_ms']} ms (max {peer['max_ms']} ms); "
              f"CPU {peer['cpu_s']:.3f} s → {1e6 / peer['updates_per_cpu_s']:.1f} µs per "
              f"update ({peer['updates_per_cpu_s']:.0f} updates/CPU-s); whole RSS "
              f"{peer['rss_kib'] / peer['sockets']:.1f} KiB per session")  # fmt: skip
        ratio = ours["updates_per_cpu_s"] / peer["updates_per_cpu_s"]
        memory = ours["rss_kib"] / ours["sockets"] / (peer["rss_kib"] / peer["sockets"])
        print(f"  ratio updates/CPU-s fareroom ÷ node: {ratio:.2f} (target ≥ 0.4; "
              f"{1e6 / ours['updates_per_cpu_s']:.1f} vs {1e6 / peer['updates_per_cpu_s']:.1f} "
              f"µs per update); whole RSS per connection fareroom ÷ node: {memory:.1f}× "
              f"(target ≤ 16 KiB: {'met' if ours['kib_per_conn'] <= 16 else 'not met'}); "
              f"p99 {ours['p99_ms']} ms vs node {peer['p99_ms']} ms "
              f"(target ≤ 250 ms: {'met' if ours['p99_ms'] <= 250 else 'not met'})")  # fmt: skip
        rows.append((tick, ours, peer, ratio))
    print(
        "\n| tick | pairs held | p50 / p99 ms | updates/CPU-s fareroom | node | ratio "
        "| µs CPU/update fareroom / node | KiB/conn fareroom (growth, whole) / node |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for tick, ours, peer, ratio in rows:
        print(f"| {tick} s | {ours['held']} | {ours['p50_ms']} / {ours['p99_ms']} "
              f"(node {peer['p50_ms']} / {peer['p99_ms']}) | {ours['updates_per_cpu_s']:.0f} "
              f"| {peer['updates_per_cpu_s']:.0f} | {ratio:.2f} "
              f"| {1e6 / ours['updates_per_cpu_s']:.1f} / {1e6 / peer['updates_per_cpu_s']:.1f} "
              f"| {ours['kib_per_conn']:.1f}, {ours['rss_kib'] / ours['sockets']:.1f} "
              f"/ {peer['rss_kib'] / peer['sockets']:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
