"""The dashboard's SVG charts and its announcer: pure, table-tested."""

from __future__ import annotations

import re

import pytest

from cloud.domain.dashboard.charts import bar_chart, empty_chart, interval_chart, sparkline
from cloud.domain.dashboard.updates import Announcer


def values(svg: str, mark: str) -> list[tuple[str, str]]:
    return re.findall(rf'<{mark} class="[a-z]+"[^>]*?data-label="([^"]*)" data-value="([^"]*)"', svg)


@pytest.mark.parametrize(
    ("bars", "expected"),
    [
        ([("offered", 3), ("applied", 1)], [("offered", "3"), ("applied", "1")]),
        ([("a", 0), ("b", 0)], [("a", "0"), ("b", "0")]),
        ([("x", 2.5)], [("x", "2.5")]),
    ],
)
def test_bars_carry_their_labels_and_values(
    bars: list[tuple[str, float]], expected: list[tuple[str, str]]
) -> None:
    svg = bar_chart("t", bars)
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "<title>t</title>" in svg
    assert values(svg, "rect") == expected


def test_the_tallest_bar_fills_the_height_and_zero_is_flat() -> None:
    heights = [
        float(h)
        for h in re.findall(
            r'<rect class="bar"[^>]* height="([0-9.]+)"', bar_chart("t", [("a", 4), ("b", 2), ("c", 0)])
        )
    ]
    assert heights[0] > heights[1] > heights[2] == 0 and heights[1] == pytest.approx(heights[0] / 2)


@pytest.mark.parametrize("hostile", ["<script>alert(1)</script>", '" onload="x', "a&b"])
def test_text_is_escaped(hostile: str) -> None:
    for svg in (
        bar_chart(hostile, [(hostile, 1)]),
        interval_chart(hostile, [(hostile, 0.5, 0.4, 0.6)]),
        sparkline(hostile, [1.0]),
        empty_chart(hostile),
    ):
        assert "<script" not in svg and 'onload="x' not in svg
        assert hostile not in svg or (hostile == "a&b" and "a&amp;b" in svg)


def test_intervals_are_clipped_to_the_chart() -> None:
    svg = interval_chart("t", [("L0", -0.2, -0.5, 0.1), ("L1", 1.3, 0.9, 1.6)])
    ys = [float(y) for y in re.findall(r'y[12]="([0-9.]+)"', svg)] + [
        float(y) for y in re.findall(r'cy="([0-9.]+)"', svg)
    ]
    assert all(24 <= y <= 136 for y in ys)
    assert values(svg, "circle") == [("L0", "-0.2"), ("L1", "1.3")]


@pytest.mark.parametrize("chart", [bar_chart("t", []), interval_chart("t", []), sparkline("t", [])])
def test_nothing_to_show_says_so(chart: str) -> None:
    assert "no data yet" in chart


def test_the_announcer_publishes_at_most_once_per_interval_and_never_raises() -> None:
    now = [0.0]
    sent: list[float] = []
    announce = Announcer(lambda: sent.append(now[0]), min_interval_s=0.5, clock=lambda: now[0])
    for t in (0.0, 0.1, 0.49, 0.5, 0.9, 1.2):
        now[0] = t
        announce()
    assert sent == [0.0, 0.5, 1.2]

    def broken() -> None:
        raise ConnectionError("redis away")

    Announcer(broken)()  # a failed announcement never fails the sync that made it
