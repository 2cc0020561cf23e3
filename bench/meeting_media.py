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
descendants). Each round measures the two modes one after the other (off, then on), then
both meetings at once, side by side in the same window: on a machine shared with others,
whose load moves by the second, only the latter puts the same load on both. Target:
on ≥ 0.9 × off.

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


async def meeting(browser: Browser, base: str, room: str, key: str | None) -> Meeting:
    found = Meeting(browser, base, room)
    for who in WHO:
        await found.join(who, key=key, camera=CAMERA)
    await found.connected()
    return found


async def window(meetings: list[Meeting], seconds: float) -> list[dict[str, Any]]:
    """Each meeting's figures over one window of ``seconds``, all measured together."""
    before = [decoded(await m.all_stats()) for m in meetings]
    t0, cpu0 = time.monotonic(), await asyncio.to_thread(cpu_seconds)
    await asyncio.sleep(seconds)
    t1, cpu1 = time.monotonic(), await asyncio.to_thread(cpu_seconds)
    found = []
    for m, start in zip(meetings, before, strict=True):
        stats = await m.all_stats()
        after = decoded(stats)
        if m.errors:
            raise RuntimeError(f"the pages logged errors: {m.errors}")
        fps = [(after[k] - start[k]) / (t1 - t0) for k in start]
        sent = [v for s in stats.values() for p in s.values() for v in p["sent"]["video"]]
        limits = sorted({f"{v['limitation']} {v['frameWidth']}x{v['frameHeight']}" for v in sent})
        found.append({"mean": statistics.mean(fps), "min": min(fps),
                      "encoded": statistics.mean(v["framesPerSecond"] for v in sent),
                      "cpu": (cpu1 - cpu0) / (t1 - t0), "limits": ", ".join(limits)})  # fmt: skip
    return found


def line(label: str, got: dict[str, Any], cpu: bool = True) -> None:
    print(f"{label}: {got['mean']:5.1f} fps received (mean of 6 pairs, min {got['min']:4.1f}), "
          f"encoders {got['encoded']:4.1f} fps"
          + (f", Chromium CPU {got['cpu']:.2f} s/s" if cpu else "")
          + f"; encoders: {got['limits']}")  # fmt: skip


def summary(label: str, found: dict[str, list[dict[str, Any]]], cpu: bool = True) -> None:
    off = statistics.mean(r["mean"] for r in found["off"])
    on = statistics.mean(r["mean"] for r in found["on"])
    text = f"{label}: E2EE off {off:.1f} fps, on {on:.1f} fps, on/off = {on / off:.3f}"
    if cpu:
        cpu_on = statistics.mean(r["cpu"] for r in found["on"])
        text += f"; CPU on/off = {cpu_on / statistics.mean(r['cpu'] for r in found['off']):.2f}"
    print(text + " (target ≥ 0.9)")


async def main(seconds: float, rounds: int, warmup: float = 5.0) -> None:
    runner, _, base = await relay.start()
    try:
        async with async_playwright() as pw:
            browser = await launch(pw, fake_device="fps=30")
            page = await (await browser.new_context()).new_page()
            await page.goto(f"{base}/?room=keys&id=keys")
            key = str(await page.evaluate("window.harness.newKey()"))
            await page.context.close()
            keys = {"off": None, "on": key}
            print(f"# 3 pages a meeting, full mesh, camera {CAMERA}; {seconds:g} s windows "
                  f"after {warmup:g} s; {rounds} round(s)")  # fmt: skip
            apart: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
            together: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
            for n in range(rounds):
                for mode in ("off", "on"):  # one meeting at a time
                    m = await meeting(browser, base, f"apart{n}{mode}", keys[mode])
                    await asyncio.sleep(warmup)
                    (got,) = await window([m], seconds)
                    await m.close()
                    apart[mode].append(got)
                    line(f"round {n + 1}, alone,    E2EE {mode:3}", got)
                # both meetings at once: the machine's load falls on both alike
                modes = ("off", "on") if n % 2 == 0 else ("on", "off")
                both = [await meeting(browser, base, f"together{n}{m}", keys[m]) for m in modes]
                await asyncio.sleep(warmup)
                for mode, got in zip(modes, await window(both, seconds), strict=True):
                    together[mode].append(got)
                    line(f"round {n + 1}, together, E2EE {mode:3}", got, cpu=False)
                for m in both:
                    await m.close()
            await browser.close()
    finally:
        await runner.cleanup()
    summary("one at a time", apart)
    summary("side by side ", together, cpu=False)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(float(args[0]) if args else 8.0, int(args[1]) if len(args) > 1 else 3))
