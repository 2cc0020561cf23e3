"""Charts drawn on the server as SVG: no script, no style attribute (the pages' CSP allows
neither inline), one bar per bucket with its figure as a tooltip, the largest value on the
axis, and the first and last labels under it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT, PAD, AXIS = 320, 140, 4, 18


def bar_chart(values: Sequence[int], labels: Sequence[str], *, title: str, chart_id: str,
              fmt: Callable[[int], str] = str) -> Markup:  # fmt: skip
    top = max(values, default=0) or 1
    n = max(len(values), 1)
    slot = (WIDTH - 2 * PAD) / n
    bar = max(slot * 0.8, 1)
    plot = HEIGHT - AXIS - PAD
    rects = []
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        h = plot * value / top
        x = PAD + i * slot + (slot - bar) / 2
        rects.append(
            f'<rect class="bar" x="{x:.1f}" y="{PAD + plot - h:.1f}" width="{bar:.1f}" '
            f'height="{max(h, 0.5 if value else 0):.1f}" data-value="{value}">'
            f"<title>{escape(label)}: {escape(fmt(value))}</title></rect>"
        )
    first = escape(labels[0]) if labels else ""
    last = escape(labels[-1]) if labels else ""
    total = sum(values)
    return Markup(
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}: {escape(fmt(total))} in all">'
        f"<title>{escape(title)}</title>"
        f'<line class="axis" x1="{PAD}" y1="{PAD + plot}" x2="{WIDTH - PAD}" y2="{PAD + plot}"/>'
        + "".join(rects)
        + f'<text class="label" x="{PAD}" y="{HEIGHT - 4}">{first}</text>'
        f'<text class="label end" x="{WIDTH - PAD}" y="{HEIGHT - 4}">{last}</text>'
        f'<text class="label" x="{PAD}" y="{PAD + 12}">{escape(fmt(max(values, default=0)))}'
        "</text></svg>"
    )
