"""``python -m tests.fault --schedules N [--seed S] [--workers K]``: run schedules, print what
ran and every violation with its seed and shortest schedule.

``--seed S`` alone replays that one schedule exactly; ``--seed S --keep 0,4,9`` replays the
shrunk schedule printed for it (``--plain`` lists the kept steps run without their fault).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from tests.fault.runner import Outcome, Totals, kept, make_template, replay_steps, run, run_many
from tests.fault.runner import shrink as shrink_outcome


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def describe(outcome: Outcome, shrunk: Outcome | None = None) -> str:
    lines = [f"VIOLATION seed {outcome.seed}"]
    lines += [f"  {v}" for v in (outcome.violations or [f"error: {outcome.error}"])]
    if shrunk is not None:
        keep = kept(shrunk)
        full = replay_steps(shrunk.seed, None)
        plain = [i for i, s in zip(keep, shrunk.steps, strict=True) if s.fault != full[i].fault]
        replay = f"--seed {shrunk.seed} --keep {','.join(map(str, keep))}"
        if plain:
            replay += f" --plain {','.join(map(str, plain))}"
        lines.append(f"  shortest schedule ({len(shrunk.steps)} of {len(full)} steps), "
                     f"replay: python -m tests.fault {replay}")  # fmt: skip
        lines += [f"    {i:>2} {s}" for i, s in zip(keep, shrunk.steps, strict=True)]
        lines += [f"  then: {v}" for v in (shrunk.violations or [f"error: {shrunk.error}"])]
    return "\n".join(lines)


def summary(totals: Totals) -> str:
    faults = ", ".join(f"{k} {v}" for k, v in sorted(totals.faults.items())) or "none"
    return (f"schedules {totals.schedules}, operations {totals.operations}, "
            f"faults injected {sum(totals.faults.values())} ({faults}), "
            f"process restarts {totals.restarts}, violations {len(totals.failed)}; "
            f"{totals.seconds:.1f} s, CPU {totals.cpu:.1f} s "
            f"({1000 * totals.cpu / max(1, totals.schedules):.0f} ms per schedule)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fault", description=__doc__)
    parser.add_argument("--schedules", type=int, default=100)
    parser.add_argument(
        "--seed", type=int, default=None, help="with --schedules 1 (or alone): replay this seed"
    )
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", type=_ints, default=None)
    parser.add_argument("--plain", type=_ints, default=[])
    parser.add_argument("--shrink", type=int, default=3,
                        help="shrink at most this many failing schedules")  # fmt: skip
    args = parser.parse_args(argv)
    template = make_template()
    try:
        if args.seed is not None:
            outcome = run(template, args.seed, replay_steps(args.seed, args.keep, args.plain))
            for i, step in enumerate(outcome.steps):
                print(f"  {i:>2} {step}")
            print(describe(outcome) if outcome.failed else f"seed {args.seed}: no violation")
            return 1 if outcome.failed else 0
        seeds = range(args.first_seed, args.first_seed + args.schedules)
        totals = run_many(template, seeds, workers=args.workers)
        for i, outcome in enumerate(totals.failed):
            shrunk = shrink_outcome(template, outcome) if i < args.shrink else None
            print(describe(outcome, shrunk))
        print(summary(totals))
        return 1 if totals.failed else 0
    finally:
        shutil.rmtree(template, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
