"""Meeting signalling: Fareroom's ``/ws/meeting`` beside the PeerJS server (figures, no
assertions).

N meetings of 4 participants (``FAREROOM_BENCH_MEETINGS``, default 500 = 2 000 participants
held at once) join at a steady rate (``FAREROOM_BENCH_JOIN_RATE`` meetings a second, default
10: the 500 within 50 s, as at the top of an hour), the 4 of a meeting together. A
meeting's **join** is the full-mesh signalling of WebRTC: for every pair the later comer
sends an offer (about 4.7 KB of SDP) and K ICE candidates (about 180 bytes each;
``FAREROOM_BENCH_CANDIDATES``, default 4), the other answers (about 3.9 KB) and sends its own
K candidates; once a participant has everything it expects from the other 3 it sends C chat
messages (``FAREROOM_BENCH_CHATS``, default 3).
Every participant heartbeats as its server asks (every 10 s on both).

- **Fareroom** (``fareroom serve``, one process, no worker, SQLite under var/ unless
  ``FAREROOM_BENCH_DATABASE_URL`` names another): a business, and a room per meeting made
  through ``POST /api/v1/meeting-rooms`` with join-before-host on; each participant is a guest
  with its own device: ``GET /m/<code>`` (the device cookie), ``POST /m/<code>/join`` (a
  ticket), ``/ws/meeting`` and ``hello``; it learns the others from ``roster`` (those already
  there: it offers to them) and ``joined`` (those after it: they offer), sends ``signal``
  frames ``{to, data}`` and ``chat`` frames (one frame, the server fans it out).
- **PeerJS** (npm ``peer`` 1.x, installed into var/bench-peerjs on first run; ``PeerServer``
  started by ``node`` on 127.0.0.1): each participant opens ``/peerjs?key=…&id=…&token=…``
  and waits for ``OPEN``; it learns who is there from this process (PeerJS has no roster: an
  application tells its pages the ids), and sends OFFER / ANSWER / CANDIDATE with ``dst``.
  PeerJS has **no chat**: a chat message is sent as one relayed frame (CANDIDATE, payload
  ``{chat}``) to each of the 3 others, so both servers deliver the same relayed messages.

Each side runs ``FAREROOM_BENCH_SLICES`` (default 5) slices of the same size, interleaved
(the order flips every slice, so drift of the machine's speed falls on both), after a small
warm-up slice each. A slice:

1. **join**: the meetings join at the rate above; **join → all connected** for a participant
   is from its socket opening (before its first frame: ``hello`` on Fareroom; nothing is
   sent before ``OPEN`` on PeerJS) to the moment it has every answer or offer and every
   candidate it expects from the 3 others (the Fareroom page's two HTTP requests before the
   socket are timed apart). The server's CPU over the phase gives the CPU per participant
   joined (the join's signals and chats included; on Fareroom the HTTP requests, the
   tickets and the hellos too), and its share of a core (near 100 %, or far below it on a
   machine whose other processes take the cores, the latencies are queueing);
2. **hold**: participants held = sockets open and all connected when every meeting is done;
   memory per participant = the server's RSS now, less its RSS before the first slice,
   divided by the participants held. A meeting not all connected by then (the join phase
   is cut 60 s after its last meeting started) leaves, and the server is let go quiet, so
   no work left over from the join is counted in the relay phase;
3. **relay**: with everyone held, every meeting signals its mesh again at once (an ICE
   restart: the same offers, answers and candidates), then every participant sends its C
   chat messages again; each part has its own CPU window. Relayed messages (signals and
   chats a participant receives from another: 60 + 36 a meeting at the defaults) per server
   CPU-second over both are the ratio's figures, printed with the CPU per message, and each
   part's ratio apart (Fareroom keeps every chat message, PeerJS nothing);
4. everyone leaves (``leave`` then close on Fareroom; close on PeerJS), and the bench waits
   for the server to go quiet.

CPU: the kernel's CPU clock of the server process (``common.cpu_ns``: every thread, µs
exact), on PostgreSQL with the backends serving its database; RSS from /proc. The load
generator is this process (uvloop, ``websockets`` and aiohttp), on the same cores.

Rate limits raised for the run (every participant comes from 127.0.0.1; see ``LIMITS``).
Targets (Fareroom): 2 000 participants held (500 meetings), join → all connected p99
≤ 250 ms, ≥ 0.5 × PeerJS's relayed messages per CPU-second.

Usage: ``python bench/meetings.py`` (about 15 minutes at the defaults on an idle machine);
``FAREROOM_BENCH_MEETINGS=50 FAREROOM_BENCH_SLICES=2`` for a quick run;
``FAREROOM_BENCH_SIDES=peerjs`` (or ``fareroom``) measures one side only;
``FAREROOM_BENCH_PORT=P`` serves Fareroom on P and PeerJS on P + 1 (default: free ports);
``FAREROOM_BENCH_PROFILE=file`` runs Fareroom's server under cProfile (its figures are then
not comparable: read the file with ``pstats``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from common import ROOT, CpuMeter, _recreate_pg, cpu_ns, pg_backends, verdict

sys.path.insert(0, str(ROOT))
from tests.support.servers import free_port, wait_http  # noqa: E402


def _env(name: str, default: int) -> int:
    return int(os.environ.get(f"FAREROOM_BENCH_{name}", default))


MEETINGS = _env("MEETINGS", 500)
SIZE = 4  # participants in a meeting
CANDIDATES = _env("CANDIDATES", 4)  # ICE candidates each way, per pair
CHATS = _env("CHATS", 3)  # chat messages per participant, per round
SLICES = _env("SLICES", 5)
JOIN_RATE = float(os.environ.get("FAREROOM_BENCH_JOIN_RATE", "10"))  # meetings a second
WARMUP = min(10, MEETINGS)  # meetings in each side's warm-up slice
HEARTBEAT = 10  # seconds, on both sides (Fareroom's default; PeerJS's client pings every 5)
SIDES = os.environ.get("FAREROOM_BENCH_SIDES", "peerjs,fareroom").split(",")
PORT = int(os.environ["FAREROOM_BENCH_PORT"]) if "FAREROOM_BENCH_PORT" in os.environ else None
PROFILE = os.environ.get("FAREROOM_BENCH_PROFILE")  # a file: Fareroom's server under cProfile
WORK = ROOT / "var" / "bench-meetings"
PEERJS = ROOT / "var" / "bench-peerjs"  # the npm package, installed here by the bench only
PEERJS_KEY = "peerjs"
# A page's budgets, raised so that a page of a slow load generator on a busy machine, its
# frames bunched, is never the one refused (a page sends 3 × (1 + K) signals and C chats a
# round, under the defaults of 600 frames and 10 chats in 10 s at the default sizes). The
# join's only per-address limit is on wrong passwords, and these rooms have none.
LIMITS = {
    "FAREROOM_LIMIT_MEETING_FRAMES": "100000000/10",
    "FAREROOM_LIMIT_MEETING_CHAT": "100000000/10",
}
SETTLE_TIMEOUT = 60.0  # seconds a phase may take beyond its own length before it is cut


# -- payloads: what a browser's RTCPeerConnection hands a page to pass on ------------------


def _hex(n: int) -> str:
    return "".join(random.choice("0123456789ABCDEF") for _ in range(n))


def sdp(kind: str, size: int) -> dict[str, str]:
    """A session description of about ``size`` bytes shaped like Chromium's: one audio
    and one video section, their codecs, a data channel."""
    token = f"{random.getrandbits(62)}"
    lines = ["v=0", f"o=- {token} 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1 2",
             "a=extmap-allow-mixed", "a=msid-semantic: WMS bench"]  # fmt: skip
    ufrag, pwd = _hex(4).lower(), _hex(24).lower()
    fingerprint = ":".join(_hex(2) for _ in range(32))
    setup = "actpass" if kind == "offer" else "active"
    for mid, media in enumerate(("audio", "video")):
        lines += [f"m={media} 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 102",
                  "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0", f"a=ice-ufrag:{ufrag}",
                  f"a=ice-pwd:{pwd}", "a=ice-options:trickle",
                  f"a=fingerprint:sha-256 {fingerprint}", f"a=setup:{setup}", f"a=mid:{mid}",
                  "a=sendrecv", f"a=msid:bench {media}-{token}", "a=rtcp-mux"]  # fmt: skip
    lines += ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0",
              f"a=ice-ufrag:{ufrag}", f"a=ice-pwd:{pwd}", "a=mid:2",
              "a=sctp-port:5000"]  # fmt: skip
    pt = 96
    while sum(len(line) + 2 for line in lines) < size:
        lines += [f"a=rtpmap:{pt} VP8/90000", f"a=rtcp-fb:{pt} goog-remb",
                  f"a=rtcp-fb:{pt} transport-cc", f"a=rtcp-fb:{pt} nack pli",
                  f"a=fmtp:{pt} level-asymmetry-allowed=1;packetization-mode=1"]  # fmt: skip
        pt += 1
    return {"type": kind, "sdp": "\r\n".join(lines) + "\r\n"}


def candidate(n: int) -> dict[str, Any]:
    """An ICE candidate of about 200 bytes as JSON (RTCIceCandidate.toJSON())."""
    ip = f"192.0.2.{n % 250 + 1}"
    text = (f"candidate:{random.getrandbits(31)} 1 udp {2122260223 - n} {ip} "
            f"{50000 + n} typ host generation 0 ufrag {_hex(4).lower()} network-id 1")  # fmt: skip
    return {"candidate": text, "sdpMid": "0", "sdpMLineIndex": 0,
            "usernameFragment": _hex(4).lower()}  # fmt: skip


OFFER, ANSWER = sdp("offer", 4600), sdp("answer", 3800)
CANDIDATE_DATA = [candidate(n) for n in range(CANDIDATES)]
# Serialised once: the load generator shares the cores with the servers, and building the
# same 4-KB JSON for every frame would take its time from them (and slow its own clock).
OFFER_JSON = orjson.dumps({"sdp": OFFER}).decode()
ANSWER_JSON = orjson.dumps({"sdp": ANSWER}).decode()
CANDIDATE_JSON = [orjson.dumps({"candidate": c}).decode() for c in CANDIDATE_DATA]


def _str(value: str) -> str:
    return orjson.dumps(value).decode()


# -- one participant's page: the mesh, whatever the server ----------------------------------


class Page:
    """One participant: its socket, and the mesh logic both sides share. A side's subclass
    opens the socket, turns its frames into ``present`` / ``signalled`` / ``chatted`` and
    says ``offer`` / ``answer`` / ``candidate`` / ``chat`` its own way. In each round the
    page expects, from each of the other 3, an offer or an answer and K candidates, then
    C chat messages."""

    def __init__(self, meeting: Meeting, index: int) -> None:
        self.meeting, self.index = meeting, index
        self.id = ""  # the server's id for this participant
        self.ws: ClientConnection | None = None
        self.peers: dict[str, bool] = {}  # other's id → whether this page offers to it
        self.got: Counter[str] = Counter()
        self.chats = 0
        self.relayed = 0  # signals and chats received from others, over all rounds
        self.opened_at = 0.0
        self.connected_at: float | None = None
        self.done = asyncio.Event()
        self.mode = "join"  # join: signals, then chats; signal: signals only; chat: chats only
        self.error: str | None = None
        self.tasks: list[asyncio.Task[None]] = []

    # the side's part
    async def open(self) -> None:
        raise NotImplementedError

    def handle(self, frame: dict[str, Any]) -> None:
        raise NotImplementedError

    def signal_frames(self, to: str, data: str) -> list[str]:
        """The frames that carry ``data`` (a JSON object, serialised once for all) to ``to``."""
        raise NotImplementedError

    def chat_frames(self, text: str) -> list[str]:
        raise NotImplementedError

    def ping_frame(self) -> str:
        raise NotImplementedError

    # the mesh
    def reset(self, mode: str) -> None:
        self.mode = mode
        self.got.clear()
        self.chats, self.connected_at = 0, None
        self.done = asyncio.Event()

    async def send(self, frames: Iterable[str]) -> None:
        assert self.ws is not None
        for frame in frames:
            await self.ws.send(frame)

    def frames_to(self, other: str, description: str) -> list[str]:
        frames = self.signal_frames(other, description)
        for c in CANDIDATE_JSON:
            frames += self.signal_frames(other, c)
        return frames

    async def offer_to(self, other: str) -> None:
        await self.send(self.frames_to(other, OFFER_JSON))

    def present(self, other: str, *, offers: bool) -> None:
        """``other`` is in the meeting; this page offers to it when it came later."""
        if other == self.id or other in self.peers:
            return
        self.peers[other] = offers
        if len(self.peers) > SIZE - 1:  # someone of an earlier slice still in the room
            self.fail(f"more than {SIZE - 1} others in the meeting")
        if offers:
            self.spawn(self.offer_to(other))

    def signalled(self, sender: str, data: dict[str, Any]) -> None:
        self.relayed += 1
        self.got[sender] += 1
        self.peers.setdefault(sender, False)
        if data.get("sdp", {}).get("type") == "offer":
            self.spawn(self.send(self.frames_to(sender, ANSWER_JSON)))
        self._check()

    def chatted(self, sender: str) -> None:
        if sender == self.id:  # the server's echo of this page's own message
            return
        self.relayed += 1
        self.chats += 1
        self._check()

    def _check(self) -> None:
        if self.mode != "chat" and self.connected_at is None:
            if len(self.peers) < SIZE - 1 or any(self.got[p] < 1 + CANDIDATES for p in self.peers):
                return
            self.connected_at = time.perf_counter()
            if self.mode == "signal":
                self.done.set()
                return
            self.say()
        if self.chats >= (SIZE - 1) * CHATS:
            self.done.set()

    def say(self) -> None:
        text = f"Hello from participant {self.index} of meeting {self.meeting.index}."
        self.spawn(self.send([f for n in range(CHATS) for f in self.chat_frames(text)]))

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.append(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self.tasks.remove(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.fail(f"send: {type(exc).__name__}")

    def fail(self, why: str) -> None:
        if self.error is None:
            self.error = why
        self.done.set()

    async def run(self) -> None:
        """Open, then read frames until the socket closes; heartbeats beside."""
        try:
            await self.open()
        except Exception as exc:  # noqa: BLE001 — a page that cannot join is counted, not fatal
            self.fail(f"open: {type(exc).__name__}: {exc}"[:120])
            return
        self.spawn(self._heartbeat())
        assert self.ws is not None
        try:
            async for raw in self.ws:
                self.handle(orjson.loads(raw))
        except ConnectionClosed:
            pass
        if self.error is None and not self.meeting.leaving:
            self.fail(f"closed {self.ws.close_code}")

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            await self.send([self.ping_frame()])

    @property
    def held(self) -> bool:
        from websockets.protocol import State

        return self.ws is not None and self.ws.state is State.OPEN and self.error is None

    async def leave(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


class Meeting:
    def __init__(self, side: Side, index: int, room: str) -> None:
        self.side, self.index, self.room = side, index, room
        self.pages = [side.page(self, i) for i in range(SIZE)]
        self.opened: list[Page] = []  # PeerJS: who has had OPEN, in order
        self.leaving = False
        self.runs: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.runs = [asyncio.ensure_future(p.run()) for p in self.pages]

    def restart(self, mode: str) -> None:
        """The relay phase: every page offers again to those it offered to (``signal``), or
        says its chat messages again (``chat``)."""
        for page in self.pages:
            page.reset(mode)
        for page in self.pages:
            if mode == "chat":
                page.say()
                continue
            for other, offers in page.peers.items():
                if offers:
                    page.spawn(page.offer_to(other))

    async def leave(self) -> None:
        self.leaving = True
        await asyncio.gather(*(p.leave() for p in self.pages))
        for run in self.runs:
            run.cancel()


# -- Fareroom ---------------------------------------------------------------------------


class FareroomPage(Page):
    rostered = False

    async def open(self) -> None:
        side = self.meeting.side
        assert isinstance(side, Fareroom) and side.http is not None
        began = time.perf_counter()
        async with side.http.get(f"/m/{self.meeting.room}") as r:
            assert r.status == 200, ("start page", r.status)
            device = r.cookies["fareroom_device"].value
        cookie = {"Cookie": f"fareroom_device={device}"}
        body = {"name": f"Guest {self.meeting.index}.{self.index}"}
        async with side.http.post(f"/m/{self.meeting.room}/join", json=body,
                                  headers={**cookie, "Origin": side.base}) as r:  # fmt: skip
            answer = await r.json(content_type=None)
            assert r.status == 200, ("join", r.status, answer)
        side.http_ms.append((time.perf_counter() - began) * 1000)
        self.ws = await connect(f"{side.ws_base}/ws/meeting", additional_headers=cookie,
                                origin=side.base, **CLIENT)  # type: ignore[arg-type]  # fmt: skip
        self.opened_at = time.perf_counter()
        await self.send([orjson.dumps({"type": "hello", "ticket": answer["ticket"]}).decode()])

    def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "welcome":
            self.id = frame["you"]["id"]
        elif kind == "roster":
            # The first roster lists those who came before this page: it offers to them.
            # Any later one (after ``admitted``, say) lists no one this page came after.
            for p in frame["participants"]:
                self.present(p["id"], offers=not self.rostered)
            self.rostered = True
        elif kind == "joined":
            self.present(frame["participant"]["id"], offers=False)
        elif kind == "signal":
            self.signalled(frame["from"], frame["data"])
        elif kind == "chat":
            self.chatted(frame["from"])
        elif kind in ("lobby", "error"):
            self.fail(f"{kind}: {frame.get('code') or frame.get('reason')}")

    def signal_frames(self, to: str, data: str) -> list[str]:
        return [f'{{"type":"signal","to":{_str(to)},"data":{data}}}']

    def chat_frames(self, text: str) -> list[str]:
        return [f'{{"type":"chat","text":{_str(text)}}}']

    def ping_frame(self) -> str:
        return '{"type":"ping"}'

    async def leave(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.send(['{"type":"leave"}'])
        await super().leave()


# -- PeerJS -----------------------------------------------------------------------------


class PeerJsPage(Page):
    async def open(self) -> None:
        side = self.meeting.side
        self.id = f"s{side.round}m{self.meeting.index}p{self.index}-{uuid.uuid4().hex[:8]}"
        token = uuid.uuid4().hex[:10]
        url = f"{side.ws_base}/peerjs?key={PEERJS_KEY}&id={self.id}&token={token}"
        self.ws = await connect(url, **CLIENT)  # type: ignore[arg-type]
        self.opened_at = time.perf_counter()

    def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "OPEN":
            # The application's part: tell the page who is there, and those there of it.
            others = list(self.meeting.opened)
            self.meeting.opened.append(self)
            for other in others:
                other.present(self.id, offers=False)
                self.present(other.id, offers=True)
        elif kind in ("OFFER", "ANSWER", "CANDIDATE"):
            payload = frame["payload"]
            if "chat" in payload:
                self.chatted(frame["src"])
            else:
                self.signalled(frame["src"], payload)
        elif kind in ("ERROR", "ID-TAKEN", "EXPIRE"):
            self.fail(f"{kind}: {frame.get('payload')}")

    def signal_frames(self, to: str, data: str) -> list[str]:
        # As the PeerJS client sends them: the description or candidate (``data``'s one
        # member) beside the kind of connection and its id, in one payload.
        kind = ("OFFER" if data is OFFER_JSON else "ANSWER" if data is ANSWER_JSON
                else "CANDIDATE")  # fmt: skip
        payload = f'{data[:-1]},"type":"media","connectionId":"mc_{self.id}"}}'
        return [f'{{"type":"{kind}","dst":{_str(to)},"payload":{payload}}}']

    def chat_frames(self, text: str) -> list[str]:
        # No chat in PeerJS: one relayed frame to each of the others.
        return [f'{{"type":"CANDIDATE","dst":{_str(other)},"payload":{{"chat":{{"text":'
                f"{_str(text)}}}}}}}" for other in self.peers]  # fmt: skip

    def ping_frame(self) -> str:
        return '{"type":"HEARTBEAT"}'


# The load generator's sockets: as a browser's, no WebSocket pings of their own (both sides
# heartbeat in frames), no proxy; neither server takes permessage-deflate.
CLIENT = {"ping_interval": None, "proxy": None, "compression": None, "max_size": 2**20,
          "open_timeout": 120}  # fmt: skip


# -- the servers ------------------------------------------------------------------------


def runqueue_ns(pid: int) -> int:
    """How long the process's threads have waited for a CPU while runnable (the second
    field of ``/proc/PID/task/*/schedstat``): what the machine's other processes cost it."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError):
            total += int((task / "schedstat").read_text().split()[1])
    return total


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Side:
    name = ""
    page_class: type[Page] = Page

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = self.ws_base = ""
        self.round = 0
        self.http: aiohttp.ClientSession | None = None
        self.http_ms: list[float] = []
        self.rss0 = 0

    version = ""

    def start(self) -> None:
        raise NotImplementedError

    def page(self, meeting: Meeting, index: int) -> Page:
        return self.page_class(meeting, index)

    def pids(self) -> list[int]:
        assert self.proc is not None
        return [self.proc.pid]

    def rooms(self, n: int) -> list[str]:
        return [f"peerjs-{i}" for i in range(n)]

    async def commits(self) -> int:
        """Transactions the server has committed so far (0: it has no database)."""
        return 0

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


class PeerJs(Side):
    name = "peerjs"
    page_class = PeerJsPage

    def start(self) -> None:
        if not (PEERJS / "node_modules" / "peer").exists():
            PEERJS.mkdir(parents=True, exist_ok=True)
            subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund",
                            "--silent", "peer@1"], cwd=PEERJS, check=True)  # fmt: skip
        version = json.loads((PEERJS / "node_modules/peer/package.json").read_text())["version"]
        port = PORT + 1 if PORT else free_port()
        # PeerServer's defaults but its limit of 5 000 clients at once.
        script = ("import {PeerServer} from 'peer';"
                  f"PeerServer({{host: '127.0.0.1', port: {port}, path: '/', "
                  f"key: '{PEERJS_KEY}', concurrent_limit: 1000000}});")  # fmt: skip
        self.proc = subprocess.Popen(["node", "--input-type=module", "-e", script],
                                     cwd=PEERJS)  # fmt: skip
        self.base = f"http://127.0.0.1:{port}"
        self.ws_base = f"ws://127.0.0.1:{port}"
        wait_http(f"{self.base}/", timeout=60, proc=self.proc)
        node = subprocess.check_output(["node", "-v"]).decode().strip()
        self.version = f"peer {version}, node {node}"


class Fareroom(Side):
    name = "fareroom"
    page_class = FareroomPage

    def start(self) -> None:
        WORK.mkdir(parents=True, exist_ok=True)
        url = os.environ.get("FAREROOM_BENCH_DATABASE_URL")
        if url is not None and url.startswith("postgresql"):  # made anew, like the others'
            url = asyncio.run(_recreate_pg(url.rsplit("/", 1)[1]))
        if url is None:
            for old in WORK.glob("fareroom*.sqlite3*"):
                old.unlink()
            url = f"sqlite+aiosqlite:///{WORK}/fareroom.sqlite3"
        from fareroom.cli import migrate

        migrate(url)
        self.database = url.rsplit("/", 1)[1] if url.startswith("postgresql") else None
        port = PORT or free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.ws_base = f"ws://127.0.0.1:{port}"
        self.env = {**os.environ, **LIMITS, "FAREROOM_DATABASE_URL": url,
                    "FAREROOM_SECRET_KEY": "bench", "FAREROOM_BASE_URL": self.base,
                    "FAREROOM_MAIL_DIR": str(WORK / "mail"),
                    "FAREROOM_HEARTBEAT_SECONDS": str(HEARTBEAT),
                    "FAREROOM_HTTP_KEEP_ALIVE_SECONDS": "300", "FAREROOM_BENCH_COUNTERS": "1",
                    "FAREROOM_LOG_LEVEL": "WARNING"}  # fmt: skip
        made = subprocess.run([sys.executable, "-m", "fareroom", "create-business", "Bench",
                               "--owner-email", f"bench-{uuid.uuid4().hex[:8]}@example.com",
                               "--owner-password", "bench password", "--json"],
                              env=self.env, capture_output=True, text=True, check=True)  # fmt: skip
        self.made = json.loads(made.stdout)
        self.log = (WORK / "server.log").open("w")
        command = [sys.executable, "-m", "fareroom", "serve", "--quiet", "--no-worker",
                   "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
        if PROFILE:  # the server under cProfile, its figures written when it stops
            # uvicorn re-raises the SIGTERM it stopped on: a handler of ours turns it into
            # SystemExit, which cProfile.run takes as the end and writes its file on.
            script = ("import cProfile, signal, sys\n"
                      "def stop(*_): raise SystemExit(0)\n"
                      "signal.signal(signal.SIGTERM, stop)\n"
                      f"sys.argv = ['fareroom', *{command[3:]!r}]\n"
                      "from fareroom.cli import main\n"
                      f"cProfile.run('main()', {PROFILE!r})\n")  # fmt: skip
            command = [sys.executable, "-c", script]
        self.proc = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=self.log)  # fmt: skip
        wait_http(f"{self.base}/healthz", timeout=120, proc=self.proc)
        self.version = f"fareroom serve, {url.split(':', 1)[0]}"

    def pids(self) -> list[int]:
        pids = super().pids()
        return pids + (pg_backends(self.database) if self.database else [])

    def rooms(self, n: int) -> list[str]:
        return asyncio.run(self._rooms(n))

    async def _rooms(self, n: int) -> list[str]:
        """A persistent room per meeting, join-before-host on, hosted by the owner."""
        headers = {"Authorization": f"Bearer {self.made['api_key']}"}
        async with aiohttp.ClientSession(self.base, headers=headers) as http:
            async with http.get("/api/v1/users") as r:
                [owner] = [u for u in (await r.json())["data"] if u["role"] == "owner"]
            sem = asyncio.Semaphore(8)

            async def one(i: int) -> str:
                body = {"host_id": owner["id"], "kind": "persistent",
                        "topic": f"Bench meeting {i}", "join_before_host": True}  # fmt: skip
                async with sem, http.post("/api/v1/meeting-rooms", json=body) as r:
                    room = await r.json(content_type=None)
                    assert r.status in (200, 201), ("room", r.status, room)
                    return str(room["code"])

            return list(await asyncio.gather(*(one(i) for i in range(n))))

    def stop(self) -> None:
        """SIGTERM (uvicorn stops, and cProfile writes its file), SIGKILL if that fails."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            super().stop()

    async def commits(self) -> int:
        assert self.http is not None
        async with self.http.get("/_bench/counters") as r:
            return int((await r.json())["commits"])

    def tracebacks(self) -> int:
        return (WORK / "server.log").read_text().count("Traceback")


# -- a slice ----------------------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def wait_quiet(pids: Callable[[], list[int]], *, limit: float = 30.0) -> None:
    """Until the server spends under 5 % of a core over half a second (its last frames,
    the leaves' writes): the next slice starts on a server at rest."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = sum(cpu_ns(p) or 0 for p in pids())
        await asyncio.sleep(0.5)
        if sum(cpu_ns(p) or 0 for p in pids()) - before < 0.05 * 0.5e9:
            return


async def _all_done(pages: list[Page], within: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(p.done.wait() for p in pages)), within)


async def run_slice(side: Side, rooms: list[str], meetings: int) -> dict[str, Any]:
    side.round += 1
    side.http_ms = []
    cpu = CpuMeter(side.pids)
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(side.base, connector=connector,
                                     cookie_jar=aiohttp.DummyCookieJar()) as http:  # fmt: skip
        side.http = http
        all_meetings = [Meeting(side, i, rooms[i]) for i in range(meetings)]
        pages = [p for m in all_meetings for p in m.pages]
        # 1. join, at JOIN_RATE meetings a second
        commits, waited = await side.commits(), runqueue_ns(side.pids()[0])
        cpu.start()
        began, own = time.perf_counter(), time.process_time()
        for i, meeting in enumerate(all_meetings):
            await asyncio.sleep(max(0.0, began + i / JOIN_RATE - time.perf_counter()))
            meeting.start()
        await _all_done(pages, meetings / JOIN_RATE + SETTLE_TIMEOUT)
        join_s = time.perf_counter() - began
        cpu.stop()
        load_share = (time.process_time() - own) / join_s
        join_cpu = cpu.ns / 1e9
        waited = runqueue_ns(side.pids()[0]) - waited
        commits = await side.commits() - commits
        latencies = [(p.connected_at - p.opened_at) * 1000 for p in pages if p.connected_at]
        # 2. hold
        await asyncio.sleep(0.5)
        held = sum(p.held and p.done.is_set() for p in pages)
        rss = sum(rss_kib(pid) for pid in side.pids()[:1])
        # A meeting not all connected by now (a machine too busy) leaves before the relay
        # phase, so that the join's work left over is not counted there.
        whole = [m for m in all_meetings if all(p.held and p.done.is_set() for p in m.pages)]
        for m in all_meetings:
            for p in m.pages:
                if m not in whole and p.error is None:
                    p.error = "not all connected in time" if p.held else "closed"
        await asyncio.gather(*(m.leave() for m in all_meetings if m not in whole))
        await wait_quiet(side.pids)
        # 3. relay: every meeting signals its mesh again, all at once; then its chat
        live = [p for m in whole for p in m.pages]
        relay = {mode: await relay_phase(side, whole, live, mode)
                 for mode in ("signal", "chat")}  # fmt: skip
        errors = Counter(p.error for p in pages if p.error)
        # 4. leave
        await asyncio.gather(*(m.leave() for m in whole))
        side.http = None
    await wait_quiet(side.pids)
    return {"meetings": meetings, "participants": len(pages), "held": held,
            "latencies": latencies, "http_ms": list(side.http_ms), "join_s": join_s,
            "join_cpu_s": join_cpu, "rss_kib": rss, "growth_kib": rss - side.rss0,
            "relay": relay, "relayed": sum(x["relayed"] for x in relay.values()),
            "relay_cpu_s": sum(x["cpu_s"] for x in relay.values()), "live": len(live),
            "errors": errors, "load_share": load_share, "join_commits": commits,
            "server_share": join_cpu / join_s,
            "runqueue_share": waited / 1e9 / join_s}  # fmt: skip


async def relay_phase(side: Side, meetings: list[Meeting], live: list[Page], mode: str
                      ) -> dict[str, Any]:  # fmt: skip
    """One round of ``mode`` in every meeting at once: the messages relayed, the server's
    CPU over it, the load generator's share of a core."""
    before, commits = sum(p.relayed for p in live), await side.commits()
    cpu = CpuMeter(side.pids)
    cpu.start()
    started, own = time.perf_counter(), time.process_time()
    for meeting in meetings:
        meeting.restart(mode)
    await _all_done(live, SETTLE_TIMEOUT)
    seconds = time.perf_counter() - started
    cpu.stop()
    return {"relayed": sum(p.relayed for p in live) - before, "cpu_s": cpu.ns / 1e9,
            "commits": await side.commits() - commits,
            "seconds": seconds, "share": (time.process_time() - own) / seconds,
            "ok": sum(p.done.is_set() and p.error is None for p in live)}  # fmt: skip


def describe(r: dict[str, Any]) -> str:
    lat, n = r["latencies"], max(len(r["latencies"]), 1)
    lines = [
        f"held {r['held']}/{r['participants']}; join→all connected p50 "
        f"{quantile(lat, 0.5):.0f} ms p99 {quantile(lat, 0.99):.0f} ms ({len(lat)} connected, "
        f"joins over {r['join_s']:.1f} s), server CPU {r['join_cpu_s'] / n * 1000:.2f} ms per "
        f"participant joined (on a CPU {r['server_share']:.0%} of the time, waiting for one "
        f"{r['runqueue_share']:.0%}; {r['join_commits'] / n:.1f} commits each); RSS "
        f"+{r['growth_kib'] / 1024:.1f} MiB = {r['growth_kib'] / max(r['held'], 1):.1f} KiB "
        f"per participant held",
        f"relayed {rate(r):.0f} msgs/CPU-s ({us(r):.1f} µs CPU/msg) = "
        + ", ".join(f"{mode} {x['relayed']} msgs in {x['seconds']:.1f} s, CPU {x['cpu_s']:.2f}"
                    f" s, {us(x):.1f} µs/msg, {x['commits']} commits ({x['ok']}/{r['live']} "
                    f"pages done)" for mode, x in r["relay"].items()),
    ]  # fmt: skip
    # Near 100 % the load generator, not the server, sets the pace and the latencies.
    last = f"load generator at {r['load_share']:.0%} of a core joining, " + ", ".join(
        f"{x['share']:.0%} in {mode}" for mode, x in r["relay"].items()
    )
    if r["http_ms"]:
        last = (f"start page + join over HTTP p50 {quantile(r['http_ms'], 0.5):.0f} ms, p99 "
                f"{quantile(r['http_ms'], 0.99):.0f} ms; {last}")  # fmt: skip
    if r["errors"]:
        last += f"; errors {dict(r['errors'].most_common(4))}"
    return "\n      ".join([*lines, last])


def rate(r: dict[str, Any]) -> float:
    """Relayed messages per server CPU-second (of a slice's relay phase, or one part)."""
    cpu = r.get("relay_cpu_s", r.get("cpu_s"))
    return r["relayed"] / cpu if cpu else float("nan")


def us(r: dict[str, Any]) -> float:
    """Server CPU µs per relayed message."""
    return 1e6 / rate(r)


def _median(runs: list[dict[str, Any]], fn: Callable[[dict[str, Any]], float]) -> float:
    return statistics.median(fn(r) for r in runs)


def summary(results: dict[str, list[dict[str, Any]]]) -> None:
    print("\n== medians over the slices")
    med: dict[str, dict[str, float]] = {}
    for name, runs in results.items():
        m = med[name] = {
            "held": _median(runs, lambda r: r["held"]),
            "p50": _median(runs, lambda r: quantile(r["latencies"], 0.5)),
            "p99": _median(runs, lambda r: quantile(r["latencies"], 0.99)),
            "rate": _median(runs, rate), "us": _median(runs, us),
            "signal_us": _median(runs, lambda r: us(r["relay"]["signal"])),
            "chat_us": _median(runs, lambda r: us(r["relay"]["chat"])),
            "join_ms": _median(runs, lambda r: r["join_cpu_s"] / max(len(r["latencies"]), 1)
                               * 1000),
            "kib": _median(runs, lambda r: r["growth_kib"] / max(r["held"], 1)),
        }  # fmt: skip
        print(f"  {name:8}: held {m['held']:.0f}; join→all connected p50 {m['p50']:.0f} ms, "
              f"p99 {m['p99']:.0f} ms; {m['rate']:.0f} relayed msgs/CPU-s ({m['us']:.1f} µs "
              f"CPU/msg: signals {m['signal_us']:.1f}, chat {m['chat_us']:.1f}); join "
              f"{m['join_ms']:.2f} ms CPU/participant; {m['kib']:.1f} KiB/participant")  # fmt: skip
    if "fareroom" not in med:
        return
    f = med["fareroom"]
    target_held = SIZE * MEETINGS
    print(f"  fareroom: participants held {f['held']:.0f} (target {target_held}: "
          f"{verdict(f['held'] >= target_held)}); p99 {f['p99']:.0f} ms (target ≤ 250 ms: "
          f"{verdict(f['p99'] <= 250)})")  # fmt: skip
    if "peerjs" not in med:
        return
    p = med["peerjs"]
    pairs = list(zip(results["fareroom"], results["peerjs"], strict=True))

    def ratios(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> list[float]:
        return [rate(fn(a)) / rate(fn(b)) for a, b in pairs]

    whole = ratios(lambda r: r)
    pooled = (sum(a["relayed"] for a, _ in pairs) / sum(a["relay_cpu_s"] for a, _ in pairs)) / (
        sum(b["relayed"] for _, b in pairs) / sum(b["relay_cpu_s"] for _, b in pairs)
    )
    print(f"  ratio relayed msgs/CPU-s fareroom ÷ peerjs: median {statistics.median(whole):.2f}"
          f" (per slice {', '.join(f'{x:.2f}' for x in whole)}; pooled {pooled:.2f}), "
          f"{f['us']:.1f} vs {p['us']:.1f} µs CPU/msg (target ≥ 0.5: "
          f"{verdict(statistics.median(whole) >= 0.5)})")  # fmt: skip
    for mode in ("signal", "chat"):
        part = ratios(lambda r, mode=mode: r["relay"][mode])  # type: ignore[misc]
        print(f"    {mode:6}: median {statistics.median(part):.2f} (per slice "
              f"{', '.join(f'{x:.2f}' for x in part)}), {f[mode + '_us']:.1f} vs "
              f"{p[mode + '_us']:.1f} µs CPU/msg")  # fmt: skip
    print(f"  join CPU per participant fareroom ÷ peerjs: {f['join_ms'] / p['join_ms']:.1f}× "
          f"({f['join_ms']:.2f} vs {p['join_ms']:.2f} ms; Fareroom's has its 2 HTTP requests "
          f"and the ticket); memory per participant {f['kib']:.1f} vs {p['kib']:.1f} KiB; "
          f"p99 {f['p99']:.0f} vs {p['p99']:.0f} ms")  # fmt: skip


def main() -> None:
    random.seed(14)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    per_round = SIZE * (SIZE - 1) * (1 + CANDIDATES + CHATS)
    print(f"# bench/meetings.py: {MEETINGS} meetings of {SIZE} ({SIZE * MEETINGS} participants)"
          f", joining at {JOIN_RATE:g} meetings/s; {SLICES} slices per side, interleaved. "
          f"Per meeting and round: each pair an offer ({len(OFFER['sdp'])} B of SDP), an answer "
          f"({len(ANSWER['sdp'])} B) and {CANDIDATES} candidates each way "
          f"(~{len(json.dumps(CANDIDATE_DATA[0]))} B), each participant {CHATS} chats: "
          f"{per_round} relayed messages. PeerJS has no chat: each chat is sent as a relayed "
          f"frame (CANDIDATE, payload {{chat}}) to each of the 3 others. Heartbeats every "
          f"{HEARTBEAT} s on both. Fareroom's limits raised: "
          f"{', '.join(f'{k}={v}' for k, v in LIMITS.items())}")  # fmt: skip
    sides: list[Side] = [s for s in (PeerJs(), Fareroom()) if s.name in SIDES]
    rooms: dict[str, list[str]] = {}
    try:
        for side in sides:
            side.start()
            time.sleep(1)
            side.rss0 = rss_kib(side.pids()[0])
            rooms[side.name] = side.rooms(MEETINGS)
            print(f"# {side.name}: {side.version}; RSS at rest {side.rss0 / 1024:.1f} MiB")
        for side in sides:  # warm-up: not counted
            uvloop.run(run_slice(side, rooms[side.name], WARMUP))
        results: dict[str, list[dict[str, Any]]] = {s.name: [] for s in sides}
        for n in range(SLICES):
            for side in sides if n % 2 == 0 else sides[::-1]:
                r = uvloop.run(run_slice(side, rooms[side.name], MEETINGS))
                results[side.name].append(r)
                print(f"  slice {n + 1} {side.name:8}: {describe(r)}", flush=True)
        summary(results)
        for side in sides:
            if isinstance(side, Fareroom):
                print(f"# tracebacks in var/bench-meetings/server.log: {side.tracebacks()}")
    finally:
        for side in sides:
            side.stop()
    if os.environ.get("FAREROOM_BENCH_KEEP") is None:
        shutil.rmtree(WORK / "mail", ignore_errors=True)


if __name__ == "__main__":
    main()
