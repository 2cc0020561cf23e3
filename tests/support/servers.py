"""Real servers the tests and benchmarks start on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from fareroom.config import Settings
from fareroom.serving import uvicorn_options

HERE = Path(__file__).parent
# Every test connects from one address (127.0.0.1, or the ASGI transport's), so limits
# across a whole address would take the suite for one flooder: the suite's Context and its
# servers raise them; tests/limits checks them at their defaults.
SUITE_LIMITS = {
    "limit_signin_address": "100000/900",
    "limit_visits_address": "100000/60",
    "limit_sandbox_tokens_address": "100000/60",
    "limit_registrations_address": "100000/600",
    "limit_registration_payments_address": "100000/600",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Embedded(uvicorn.Server):
    """A server on a loop the suite owns: it leaves the process's signals alone. uvicorn
    puts its own SIGINT and SIGTERM handlers in while it serves and puts back, when it
    stops, those it found; two servers whose lives overlap out of order left the first's
    handler installed after both had stopped, and a process forked later (the fault
    simulator's workers) inherited a SIGTERM that no longer stopped it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def uvicorn_here(app: Any, settings: Settings | None = None) -> AsyncIterator[str]:
    """``app`` served by uvicorn on the running loop (with the protocols and timeouts of
    ``fareroom serve``, from ``settings``); yields ``host:port``."""
    port = free_port()
    options = uvicorn_options(settings or Settings(_env_file=None))  # type: ignore[call-arg]
    server = _Embedded(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", **options))  # fmt: skip
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def wait_http(url: str, *, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None
              ) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


class LocalStripe:
    def __init__(self, *, save: bool = False) -> None:
        self.port = free_port()
        args = [sys.executable, str(HERE / "localstripe_server.py"), str(self.port)]
        if not save:
            args.append("--no-save")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_http(f"{self.url}/v1/customers", proc=self.proc)

    def wipe(self) -> None:
        httpx.delete(f"{self.url}/_config/data", timeout=5.0).raise_for_status()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class FareroomServer:
    """``fareroom serve`` in a process of its own, on a free loopback port."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        import os

        self.port = free_port()
        self.url = f"127.0.0.1:{self.port}"
        limits = {f"FAREROOM_{name.upper()}": value for name, value in SUITE_LIMITS.items()}
        # A queue of its own (PostgreSQL): its worker takes its jobs, not another server's
        # of the suite on the same database, whose hub (its pages) is another; never one a
        # stopped server left jobs in (a port is used again).
        env = {"FAREROOM_BASE_URL": f"http://{self.url}", "FAREROOM_JOBS_QUEUE":
               f"server-{uuid.uuid4().hex[:12]}", **limits, **env}  # fmt: skip
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fareroom", "serve", "--quiet", "--port", str(self.port),
             *args], env={**os.environ, **env},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        wait_http(f"http://{self.url}/healthz", proc=self.proc)

    def stop(self) -> str:
        """Stop it; what it wrote to stderr."""
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err.decode(errors="replace")


class FareroomWorker:
    """``fareroom worker`` in a process of its own; what it writes to stderr goes to a file
    (a pipe nobody reads would fill and stop it)."""

    def __init__(self, env: dict[str, str], log_path: str) -> None:
        import os

        limits = {f"FAREROOM_{name.upper()}": value for name, value in SUITE_LIMITS.items()}
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed by stop)
        self.proc = subprocess.Popen([sys.executable, "-m", "fareroom", "worker"],
                                     env={**os.environ, **limits, **env},
                                     stdout=subprocess.DEVNULL, stderr=self._log)  # fmt: skip

    def kill(self) -> None:
        """As a crash: no chance to finish anything."""
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


def _redis_answers(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@contextlib.contextmanager
def redis_for_tests(url: str, *, binary: str = "redis-server") -> Iterator[str]:
    """``url`` if a Redis answers there; else a ``redis-server`` of our own on a free port
    (no persistence, stopped at the end), as CI has; else a failure saying what to install."""
    import shutil

    if _redis_answers(url):
        yield url
        return
    path = shutil.which(binary)
    if path is None:
        raise RedisMissing(
            f"No Redis answers at {url} and redis-server is not installed: install it "
            "(apt-get install redis-server) or set FAREROOM_TEST_REDIS_URL to a Redis."
        )
    port = free_port()
    proc = subprocess.Popen([path, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    own = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):
            if _redis_answers(own):
                break
            if proc.poll() is not None:
                raise RedisMissing(f"redis-server exited with {proc.returncode}")
            time.sleep(0.05)
        yield own
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class RedisMissing(RuntimeError):
    pass
