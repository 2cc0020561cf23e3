"""Frames per second received in a three-person meeting with E2EE on and off (figures printed,
no assertions).

Three pages of the media harness (tests/browser/media_harness: the real static/meeting-*.js
modules, a relay on 127.0.0.1) in one headless Chromium, each in its own context with a fake
camera and mic, form a full mesh: six camera streams, each page encoding two and decoding two.
For each mode the meeting is started afresh, given ``warmup`` seconds to settle, then every
page's getStats() is read at the start and end of a ``seconds`` window: frames decoded per
second on each of the six pairs (framesDecoded over the window), their mean and minimum, and
the mean of the encoders' own framesPerSecond, and the CPU time every Chromium process of
the run spent in the window (``/proc/<pid>/stat``, user + system, all of this script's
descendants). Modes alternate, off then on, ``rounds`` times,
so a neighbour's load on the shared machine falls on both. Target: on ≥ 0.9 × off.

Usage: ``python bench/meeting_media.py [seconds, default 8] [rounds, default 3]``;
``FAREROOM_BENCH_CAMERA`` sets the camera the pages ask for (default ``w=640&h=480&fps=30``),
the fake camera itself runs at 30 fps.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.async_api import Browser, async_playwright  # noqa: E402
from tests.browser.media_harness import relay  # noqa: E402
from tests.browser.media_harness.driver import Meeting, launch, video  # noqa: E402

WHO = ("ada", "bob", "cy")
CAMERA = os.environ.get("FAREROOM_BENCH_CAMERA", "w=640&h=480&fps=30")


def cpu_seconds() -> float:
    """User + system CPU seconds of every live descendant of this process (the Playwright
    driver and Chromium's processes)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    mine, total = {os.getpid()}, 0.0
    for pid in sorted(parents):  # children have larger pids but for wrap-around; close enough
        if parents[pid] in mine:
            mine.add(pid)
            total += times[pid]
    return total


def decoded(stats: dict[str, dict[str, Any]]) -> dict[str, float]:
    return {f"{me}<{peer}": video(stats[me], peer)["framesDecoded"]
            for me in WHO for peer in WHO if me != peer}  # fmt: skip


async def measure(browser: Browser, base: str, room: str, key: str | None, seconds: float,
                  warmup: float) -> dict[str, Any]:  # fmt: skip
    meeting = Meeting(browser, base, room)
    try:
        for who in WHO:
            await meeting.join(who, key=key, camera=CAMERA)
        await meeting.connected()
        await asyncio.sleep(warmup)
        before, t0 = decoded(await meeting.all_stats()), time.monotonic()
        cpu0 = await asyncio.to_thread(cpu_seconds)
        await asyncio.sleep(seconds)
        cpu1 = await asyncio.to_thread(cpu_seconds)
        stats = await meeting.all_stats()
        after, t1 = decoded(stats), time.monotonic()
        if meeting.errors:
            raise RuntimeError(f"the pages logged errors: {meeting.errors}")
    finally:
        await meeting.close()
    fps = [(after[k] - before[k]) / (t1 - t0) for k in before]
    sent = [v["framesPerSecond"] for s in stats.values() for p in s.values()
            for v in p["sent"]["video"]]  # fmt: skip
    limits = sorted(
        {
            f"{v['limitation']} {v['frameWidth']}x{v['frameHeight']}"
            for s in stats.values()
            for p in s.values()
            for v in p["sent"]["video"]
        }
    )
    return {"mean": statistics.mean(fps), "min": min(fps), "encoded": statistics.mean(sent),
            "cpu": (cpu1 - cpu0) / (t1 - t0), "limits": ", ".join(limits)}  # fmt: skip


async def main(seconds: float, rounds: int, warmup: float = 5.0) -> None:
    runner, _, base = await relay.start()
    try:
        async with async_playwright() as pw:
            browser = await launch(pw, fake_device="fps=30")
            page = await (await browser.new_context()).new_page()
            await page.goto(f"{base}/?room=keys&id=keys")
            key = str(await page.evaluate("window.harness.newKey()"))
            await page.context.close()
            print(f"# 3 pages, full mesh, camera {CAMERA}; {seconds:g} s windows after "
                  f"{warmup:g} s; {rounds} round(s) of off then on")  # fmt: skip
            found: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
            for n in range(rounds):
                for mode in ("off", "on"):
                    got = await measure(browser, base, f"bench{n}{mode}",
                                        key if mode == "on" else None, seconds, warmup)  # fmt: skip
                    found[mode].append(got)
                    print(f"round {n + 1} E2EE {mode:3}: {got['mean']:5.1f} fps received "
                          f"(mean of 6 pairs, min {got['min']:4.1f}), encoders "
                          f"{got['encoded']:4.1f} fps, Chromium CPU "
                          f"{got['cpu']:.2f} s/s; encoders: {got['limits']}")  # fmt: skip
            await browser.close()
    finally:
        await runner.cleanup()
    off = statistics.mean(r["mean"] for r in found["off"])
    on = statistics.mean(r["mean"] for r in found["on"])
    cpu_off = statistics.mean(r["cpu"] for r in found["off"])
    cpu_on = statistics.mean(r["cpu"] for r in found["on"])
    print(f"E2EE off: {off:.1f} fps  E2EE on: {on:.1f} fps  on/off = {on / off:.3f} "
          f"(target ≥ 0.9); CPU on/off = {cpu_on / cpu_off:.2f}")  # fmt: skip


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(float(args[0]) if args else 8.0, int(args[1]) if len(args) > 1 else 3))
