"""The dashboard's charts as SVG, rendered on the server: numbers in, markup out, no I/O.

Every text that reaches the markup is escaped, so a label can never inject markup or script into
the page (the page inserts the SVG as it comes). Each chart is a ``role="img"`` element with a
``<title>`` and, per mark, a ``data-value`` attribute (what the tests and assistive tools read).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Final

WIDTH: Final = 360
HEIGHT: Final = 160
_PAD: Final = 24
_COLORS: Final = ("#2f6fdf", "#e0862e", "#2a9d63", "#c23b3b", "#7b5cc4", "#8c8c8c", "#b88a00")


def _svg(title: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        f' class="chart"><title>{escape(title)}</title>{body}</svg>'
    )


def _number(value: float) -> str:
    return f"{value:.4g}"


def bar_chart(title: str, bars: Sequence[tuple[str, float]]) -> str:
    """Vertical bars, one per ``(label, value)``, scaled to the largest (all zero: flat bars)."""
    if not bars:
        return empty_chart(title)
    top = max((value for _, value in bars), default=0.0) or 1.0
    slot = (WIDTH - 2 * _PAD) / len(bars)
    height = HEIGHT - 2 * _PAD
    parts: list[str] = []
    for i, (label, value) in enumerate(bars):
        h = max(0.0, value) / top * height
        x = _PAD + i * slot + slot * 0.15
        y = _PAD + height - h
        color = _COLORS[i % len(_COLORS)]
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}"'
            f' fill="{color}" data-label="{escape(label)}" data-value="{_number(value)}"/>'
            f'<text x="{x + slot * 0.35:.1f}" y="{y - 3:.1f}" font-size="10" text-anchor="middle">'
            f"{_number(value)}</text>"
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 8}" font-size="10" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    return _svg(title, "".join(parts))


def interval_chart(title: str, points: Sequence[tuple[str, float, float, float]]) -> str:
    """Shares in [0, 1] with their intervals: ``(label, estimate, lower, upper)`` each, clipped."""
    if not points:
        return empty_chart(title)
    slot = (WIDTH - 2 * _PAD) / len(points)
    height = HEIGHT - 2 * _PAD

    def y(share: float) -> float:
        return _PAD + height - min(1.0, max(0.0, share)) * height

    parts: list[str] = []
    for i, (label, estimate, lower, upper) in enumerate(points):
        cx = _PAD + (i + 0.5) * slot
        parts.append(
            f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(lower):.1f}" y2="{y(upper):.1f}" stroke="#555"/>'
            f'<circle class="point" cx="{cx:.1f}" cy="{y(estimate):.1f}" r="4" fill="#2f6fdf"'
            f' data-label="{escape(label)}" data-value="{_number(estimate)}"/>'
            f'<text x="{cx:.1f}" y="{HEIGHT - 8}" font-size="10" text-anchor="middle">{escape(label)}</text>'
        )
    return _svg(title, "".join(parts))


def sparkline(title: str, values: Sequence[float]) -> str:
    """A line through ``values`` (oldest first), scaled to the largest; one value: a dot."""
    if not values:
        return empty_chart(title)
    top = max(values) or 1.0
    height = HEIGHT - 2 * _PAD
    step = (WIDTH - 2 * _PAD) / max(1, len(values) - 1)
    coords = [(_PAD + i * step, _PAD + height - max(0.0, v) / top * height) for i, v in enumerate(values)]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    last_x, last_y = coords[-1]
    body = (
        f'<polyline class="line" points="{points}" fill="none" stroke="#2f6fdf" stroke-width="2"/>'
        f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="3" fill="#2f6fdf"'
        f' data-value="{_number(values[-1])}"/>'
        f'<text x="{WIDTH - _PAD}" y="14" font-size="11" text-anchor="end">{_number(values[-1])}</text>'
    )
    return _svg(title, body)


def empty_chart(title: str) -> str:
    """A chart with nothing to show yet: says so."""
    return _svg(
        title,
        f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="12">'
        "no data yet</text>",
    )
