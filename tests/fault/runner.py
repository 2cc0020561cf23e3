"""Running schedules: one (``run``), its shortest failing form (``shrink``), and many on
forked worker processes (``run_many``)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.fault import template
from tests.fault.checks import violations
from tests.fault.ops import Runner, settle
from tests.fault.schedule import Step, generate
from tests.fault.world import World, seeded_ids


@dataclass
class Outcome:
    seed: int
    steps: list[Step]
    operations: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    restarts: int = 0
    violations: list[str] = field(default_factory=list)
    error: str | None = None  # the simulator itself failed (a product exception escaped)
    cpu: float = 0.0  # the process's CPU seconds for the schedule (its threads included)

    @property
    def failed(self) -> bool:
        return bool(self.violations or self.error)


async def _run(template_dir: Path, seed: int, steps: Sequence[Step]) -> Outcome:
    businesses = template.load(template_dir)
    world = World(template_dir)
    runner = Runner(world, businesses)
    outcome = Outcome(seed, list(steps))
    try:
        for step in steps:
            await runner.step(step)
        await settle(runner)
        outcome.violations = await violations(world, businesses)
    except Exception as exc:  # an escaped error is a finding too: 4xx/5xx the API would show
        outcome.error = f"{type(exc).__name__}: {exc}"
    finally:
        outcome.operations = runner.operations
        outcome.faults = world.faults
        outcome.restarts = world.restarts
        await world.close()
    return outcome


def _loop() -> asyncio.AbstractEventLoop:
    try:  # the product's own server runs on uvloop when it is there (uvicorn[standard])
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(template_dir: Path, seed: int, steps: Sequence[Step] | None = None) -> Outcome:
    """Run the schedule of ``seed`` (or ``steps``, a part of it) in a world of its own."""
    started = time.process_time()
    with seeded_ids(seed), asyncio.Runner(loop_factory=_loop) as runner:
        outcome = runner.run(_run(template_dir, seed, generate(seed) if steps is None else steps))
    outcome.cpu = time.process_time() - started
    return outcome


def shrink(template_dir: Path, failed: Outcome) -> Outcome:
    """The shortest schedule found that still fails: drop chunks of steps, then single
    steps, then faults, keeping each change that still fails."""
    best = failed
    chunk = max(1, len(best.steps) // 2)
    while chunk >= 1:
        i, changed = 0, False
        while i < len(best.steps):
            tried = run(template_dir, failed.seed, best.steps[:i] + best.steps[i + chunk :])
            if tried.failed:
                best, changed = tried, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    for i, step in enumerate(best.steps):
        if step.fault is not None:
            plain = [*best.steps[:i], Step(step.op, step.b, step.c, step.n), *best.steps[i + 1 :]]
            tried = run(template_dir, failed.seed, plain)
            if tried.failed:
                best = tried
    return best


def kept(outcome: Outcome) -> list[int]:
    """The indices of the seed's schedule that ``outcome`` kept (faults may be dropped)."""
    full = generate(outcome.seed)
    out, j = [], 0
    for step in outcome.steps:
        while (full[j].op, full[j].b, full[j].c, full[j].n) != (step.op, step.b, step.c, step.n):
            j += 1
        out.append(j)
        j += 1
    return out


def replay_steps(seed: int, keep: Sequence[int] | None, plain: Sequence[int] = ()) -> list[Step]:
    """The seed's schedule, or only the steps ``keep`` (with no fault on those in ``plain``)."""
    full = generate(seed)
    if keep is None:
        return full
    return [Step(full[i].op, full[i].b, full[i].c, full[i].n) if i in plain else full[i]
            for i in keep]  # fmt: skip


@dataclass
class Totals:
    schedules: int = 0
    operations: int = 0
    restarts: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    failed: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    cpu: float = 0.0

    def add(self, outcome: Outcome) -> None:
        self.schedules += 1
        self.cpu += outcome.cpu
        self.operations += outcome.operations
        self.restarts += outcome.restarts
        self.faults.update(outcome.faults)
        if outcome.failed:
            self.failed.append(outcome)


_template: Path | None = None


def _work(seed: int) -> Outcome:
    assert _template is not None
    return run(_template, seed)


def _quiet() -> None:
    # The product logs what it leaves for later (a gateway unreachable…): here that is the
    # point, and thousands of lines would bury the summary.
    logging.disable(logging.WARNING)
    # A worker stops when the pool is done with it, whatever handler its parent had set.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, signal.SIG_DFL)


def run_many(template_dir: Path, seeds: Sequence[int], *, workers: int) -> Totals:
    global _template
    _template = template_dir
    totals = Totals()
    started = time.monotonic()
    if workers <= 1:
        _quiet()
        for seed in seeds:
            totals.add(run(template_dir, seed))
    else:
        with multiprocessing.get_context("fork").Pool(workers, initializer=_quiet) as pool:
            for outcome in pool.imap_unordered(_work, seeds, chunksize=8):
                totals.add(outcome)
    totals.seconds = time.monotonic() - started
    totals.failed.sort(key=lambda o: o.seed)
    return totals


def make_template() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="fault-template-"))
    template.build(directory)
    return directory
