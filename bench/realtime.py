"""Live chat at scale over WebSockets (issue 4; figures printed, no assertions).

Against one running ``fareroom serve`` process (worker inside, on 127.0.0.1), N client–agent
pairs each hold an open, metered session: the client's page on ``/ws/client`` (resume token)
and the agent's console on ``/ws/agent`` (sign-in cookie), both heartbeating every 10 s while
the worker ticks every meter and pushes the update to both. Sessions, agents, visits and
sign-ins are written in bulk beforehand (what the contact form, the card and the routing
would have made); the sockets then say hello as real pages do. The load comes from two Node
processes (``bench/realtime_client.js``, the ``ws`` library): one for the clients, one for
the agents, since one process may hold at most ``ulimit -Hn`` sockets.

Printed per tick setting (30 s, and 1 s as a stress):

- sessions held: pairs whose two sockets were both welcomed and still open at the end;
- update lateness p50/p99: arrival of a meter update minus its ``t`` (when the tick read
  the meter), over every update in the window;
- server CPU per delivered update: the server process's CPU (utime + stime, /proc) over the
  window divided by the updates the clients received in it, and its inverse, updates per
  CPU-second;
- memory per connection: the server's RSS growth from before the first socket to after the
  last, per socket (and its whole RSS per socket, the basis the Node peer prints).

In the same run, the Node peer (the folder ``FAREROOM_BENCH_PEER`` names, ``ws-meter``: the
same metering model on Node's ``ws``, kept outside this repository; copied to
``var/bench/ws-meter`` and ``npm install``-ed there) runs with as many sockets as Fareroom
held (its sessions are one socket each) at the same tick and heartbeat;
the ratios are printed. Targets: ≥ 10 000 pairs with p99 ≤ 250 ms at both ticks, ≤ 16 KiB
per connection, ≥ 0.4 × the Node peer's updates per CPU-second.

Usage: ``python bench/realtime.py [pairs, default 9900] [window seconds at the 30-s tick,
default 95]``. ``FAREROOM_BENCH_DATABASES=sqlite`` (default: PostgreSQL when it answers).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import ROOT, fresh_databases
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
    """CPU seconds and RSS of a process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def _node(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "NODE_PATH": str(NODE / "node_modules")}
    return subprocess.Popen(["node", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=NODE, env=env)  # fmt: skip


def _line(proc: subprocess.Popen[str], prefix: str) -> str:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(prefix):
            return line.strip()
    raise RuntimeError(f"no '{prefix}' line: {proc.stderr.read() if proc.stderr else ''}")


def fareroom_run(url: str, pairs: int, tick: int, window: int) -> dict[str, Any]:
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
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=server)  # type: ignore[arg-type]
        time.sleep(2)
        proc = Proc(server.pid)
        rss0 = proc.rss_kib()
        started = time.perf_counter()
        loads = [_node(str(ROOT / "bench" / "realtime_client.js"), f"ws://127.0.0.1:{port}",
                       role, str(folder / f"{role}s.txt"), str(HEARTBEAT), str(SETTLE),
                       str(window))
                 for role in ("client", "agent")]  # fmt: skip
        ready = [_line(p, "ready").split() for p in loads]
        connect_s = time.perf_counter() - started
        for p in loads:
            _line(p, "counting")
        cpu0, rss1 = proc.cpu(), proc.rss_kib()
        done = [json.loads(_line(p, "{")) for p in loads]
        cpu = proc.cpu() - cpu0
    finally:
        server.send_signal(signal.SIGKILL)  # before the clients' sockets close: no offline storm
        server.wait()
        for p in loads if "loads" in locals() else []:
            assert p.stdin is not None
            p.stdin.close()  # the load clients exit (and close their sockets) only now
            p.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
        log.close()
    failures = (WORK / f"server-tick{tick}.log").read_text().count("Traceback")
    sockets = sum(int(r[1]) for r in ready)
    updates = sum(d["updates"] for d in done)
    held = min(d["welcomed"] - d["closed"] for d in done)
    lat = sorted(v for d in done for v in (d["p50_ms"], d["p99_ms"]) if v is not None)
    return {"pairs_held": held, "sockets": sockets, "connect_s": connect_s,
            "failed": sum(int(r[2]) for r in ready), "updates": updates,
            "p50_ms": max(d["p50_ms"] or 0 for d in done),
            "p99_ms": max(d["p99_ms"] or 0 for d in done),
            "max_ms": max(d["max_ms"] or 0 for d in done),
            "cpu_s": cpu, "updates_per_cpu_s": updates / cpu if cpu else 0.0,
            "kib_per_conn": (rss1 - rss0) / max(sockets, 1),
            "rss_kib_per_conn": rss1 / max(sockets, 1),
            "errors": [d["errors"] for d in done], "lat": lat, "tracebacks": failures}  # fmt: skip


def install_peer() -> None:
    """The peer copied to var/bench/ws-meter and its ``ws`` installed there (also used by
    our load client); its own folder is left as it is."""
    if not (NODE / "node_modules" / "ws").exists():
        if not PEER:
            raise SystemExit("Set FAREROOM_BENCH_PEER to the Node peer's folder (ws-meter).")
        shutil.copytree(PEER, NODE, dirs_exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=NODE,
                       check=True)  # fmt: skip


def node_run(sessions: int, tick: int, window: int) -> dict[str, Any]:
    """The peer with ``sessions`` sockets; its own figures parsed from what it prints."""
    port = free_port()
    duration = window + 2 * tick + 15  # the peer starts measuring at the first full tick
    server = _node("meter_server.js", str(port), str(tick), "90", str(duration), str(sessions))
    time.sleep(0.5)
    client = _node("meter_client.js", f"ws://127.0.0.1:{port}", str(sessions), str(HEARTBEAT),
                   str(duration + tick + 10))  # it must outlive the server's last tick  # fmt: skip
    s_line, c_line = _line(server, "node-ws"), _line(client, "client")
    server.wait()
    client.wait()

    def num(text: str, pattern: str) -> float:
        found = re.search(pattern, text)
        if found is None:
            raise RuntimeError(f"no {pattern!r} in {text!r}")
        return float(found.group(1))

    msgs, cpu_pct = num(s_line, r"msgs/s=([\d.]+)"), num(s_line, r"server_cpu=([\d.]+)%")
    kib = num(s_line, r"\(([\d.]+) KiB/session\)")
    return {
        "line": s_line,
        "client": c_line,
        "updates_per_cpu_s": msgs / (cpu_pct / 100),
        "kib_per_conn": kib,
        "p50_ms": num(c_line, r"p50=([\d.]+)ms"),
        "p99_ms": num(c_line, r"p99=([\d.]+)ms"),
    }


def main() -> None:
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 9900
    window = int(sys.argv[2]) if len(sys.argv) > 2 else 95
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"# open files per process: {hard} at most (ulimit -Hn); a server holding N pairs "
          f"needs 2N sockets + its own files")  # fmt: skip
    install_peer()
    wanted = os.environ.get("FAREROOM_BENCH_DATABASES", "postgresql,sqlite").split(",")[0]
    os.environ["FAREROOM_BENCH_DATABASES"] = wanted
    for tick, win in ((30, window), (1, 30)):
        [(kind, url)] = list(fresh_databases(f"rt{tick}").items())[:1]
        print(f"\n== {pairs} pairs, tick {tick} s, heartbeats every {HEARTBEAT} s, {kind}, "
              f"window {win} s")  # fmt: skip
        ours = fareroom_run(url, pairs, tick, win)
        print(f"  fareroom: pairs held {ours['pairs_held']} ({ours['sockets']} sockets welcomed, "
              f"{ours['failed']} refused, connected in {ours['connect_s']:.0f} s); "
              f"updates {ours['updates']}; lateness p50 {ours['p50_ms']} ms, "
              f"p99 {ours['p99_ms']} ms (max {ours['max_ms']} ms)")  # fmt: skip
        if not ours["updates"]:
            print("  fareroom: no update arrived in the window (make it longer than the tick)")
            continue
        print(f"  fareroom: server CPU {ours['cpu_s']:.1f} s → "
              f"{1e6 / ours['updates_per_cpu_s']:.0f} µs per update "
              f"({ours['updates_per_cpu_s']:.0f} updates/CPU-s); memory "
              f"{ours['kib_per_conn']:.1f} KiB per connection "
              f"(whole RSS {ours['rss_kib_per_conn']:.1f} KiB per connection); "
              f"errors {ours['errors']}; tracebacks in var/bench/server-tick{tick}.log: "
              f"{ours['tracebacks']}")  # fmt: skip
        peer = node_run(ours["sockets"], tick, win)
        print(f"  node-ws peer ({ours['sockets']} sessions): {peer['line']}")
        print(f"  node-ws peer client: {peer['client']}")
        print(f"  ratio updates/CPU-s fareroom ÷ node: "
              f"{ours['updates_per_cpu_s'] / peer['updates_per_cpu_s']:.2f} (target ≥ 0.4); "
              f"memory per connection fareroom ÷ node: "
              f"{ours['rss_kib_per_conn'] / peer['kib_per_conn']:.1f}× "
              f"(target ≤ 16 KiB: {'met' if ours['kib_per_conn'] <= 16 else 'not met'}); "
              f"p99 {ours['p99_ms']} ms vs node {peer['p99_ms']} ms "
              f"(target ≤ 250 ms: {'met' if ours['p99_ms'] <= 250 else 'not met'})")  # fmt: skip


if __name__ == "__main__":
    main()
