"""Jobs: work done after a transaction commits, and the periodic jobs, in any process.

The port is ``Jobs``: ``defer`` adds jobs to the caller's transaction (they exist once it
commits, and never if it rolls back); ``run`` executes jobs (and the periodic ones) until told
to stop; ``drain`` executes the jobs waiting now, and those they defer, then returns (the
tests'). A job is a task's name and its keyword arguments (JSON values); the worker
(``fareroom.worker``) names the tasks and binds them to the Context.

Two adapters, picked by the composition root from the database:

- ``InProcessJobs`` (SQLite, the embedded default): deferred jobs wait in this process's
  memory from the commit until the worker inside ``fareroom serve`` runs them. A job lost to a
  crash is one whose effect its own rows still say is to do: what defers jobs keeps its state
  in its own tables (a payment run's bills), and its resume finds them again.
- ``QueueJobs`` (PostgreSQL): procrastinate's queue. A job is a row written in the caller's
  transaction; any number of ``fareroom worker`` (and ``serve``) processes claim jobs, each
  once. Periodic jobs are deferred once per tick whatever the number of workers (the
  periodic id and the tick are unique), and each has a lock, so two never run at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

Task = Callable[..., Awaitable[Any]]  # called with the job's keyword arguments


@dataclass(frozen=True)
class Periodic:
    """A job run every ``every`` seconds by one worker at a time. Periodic jobs of one
    ``lock`` (their name, by default) never run at the same time, whatever the worker."""

    name: str
    every: float
    run: Callable[[], Awaitable[Any]]
    lock: str | None = None


class Jobs(Protocol):
    durable: bool  # a job deferred outlives the process that deferred it

    async def defer(self, session: AsyncSession, task: str, args: Sequence[Mapping[str, Any]],
                    ) -> None:  # fmt: skip
        """Add a job of ``task`` for each of ``args`` to ``session``'s transaction."""
        ...

    async def run(self, tasks: Mapping[str, Task], periodic: Sequence[Periodic],
                  stop: asyncio.Event) -> None:  # fmt: skip
        """Execute jobs and the periodic ones until ``stop`` is set."""
        ...

    async def drain(self, tasks: Mapping[str, Task]) -> int:
        """Execute the jobs waiting now, and those they defer; how many ran."""
        ...

    async def close(self) -> None: ...
