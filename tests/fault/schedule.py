"""Schedules: what the simulated businesses, clients and agents do, step by step.

A step names its operation, a business and a client (indices into the template), one
number ``n`` (amount, seconds or which object, as the operation reads it) and at most one
fault. What a step acts on is chosen when it runs, from what exists then (``n`` modulo how
many there are), so any subset of a schedule is a schedule too: shrinking drops steps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from tests.fault.world import FAULT_KINDS, Fault

# operation: weight
OPS = {
    "charge": 3, "hold": 3, "capture": 2, "cancel": 1, "refund": 2, "payout": 1,
    "open": 3, "event": 3, "hangup": 2, "card": 1, "abandon": 1, "request": 2,
    "tick": 2, "advance": 2, "deliver": 2, "worker": 1, "wait": 1,
}  # fmt: skip
FAULT_RATE = 0.3
MIN_STEPS, MAX_STEPS = 8, 20


@dataclass(frozen=True)
class Step:
    op: str
    b: int
    c: int
    n: int
    fault: Fault | None = None

    def __str__(self) -> str:
        fault = f" !{self.fault}" if self.fault else ""
        return f"{self.op} b{self.b} c{self.c} n={self.n}{fault}"


def generate(seed: int) -> list[Step]:
    """The schedule of ``seed``: 8 to 20 steps, about a third of them with a fault."""
    rng = random.Random(seed)
    ops, weights = list(OPS), list(OPS.values())
    steps = []
    for _ in range(rng.randint(MIN_STEPS, MAX_STEPS)):
        step = Step(rng.choices(ops, weights)[0], rng.randrange(2), rng.randrange(2),
                    rng.randrange(1_000_000))  # fmt: skip
        if rng.random() < FAULT_RATE:
            step = replace(step, fault=Fault(rng.choice(FAULT_KINDS), rng.randrange(4)))
        steps.append(step)
    return steps
