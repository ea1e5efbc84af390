"""Small SVG charts drawn on the server, so the pages need no JavaScript.

Shared by every app's pages. Each chart is a `Chart`: the SVG markup plus the rows it shows, which the
templates also render as a visually hidden table for screen readers. Colours
come from the stylesheet (classes `chart-bar`, `chart-label`...), with plain
fill attributes as a fallback when the SVG is seen on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

BAR_FILL = "#1f5f8b"
TEXT_FILL = "#1b1f24"
MUTED_FILL = "#59636e"


@dataclass
class Chart:
    id: str
    title: str
    rows: list[tuple[str, int]]
    svg: SafeString = field(default=SafeString(""))
    value_heading: str = "Datasets"
    label_heading: str = "Value"

    @property
    def is_empty(self) -> bool:
        return not any(n for _, n in self.rows)


def _fmt(n: float) -> str:
    """Coordinates with at most one decimal, without trailing zeros."""
    return f"{n:.1f}".rstrip("0").rstrip(".")


def _shorten(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _svg(chart_id: str, title: str, width: int, height: int, body: list[str]) -> SafeString:
    title_id = f"{chart_id}-title"
    return mark_safe(  # every interpolated string is escaped
        f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-labelledby="{escape(title_id)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(title_id)}">{escape(title)}</title>' + "".join(body) + "</svg>"
    )


def horizontal_bars(
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, int]],
    *,
    limit: int = 8,
    width: int = 256,
    label_width: int = 84,
    bar_height: int = 16,
    gap: int = 6,
    label_heading: str = "Value",
) -> Chart:
    """One bar per value, longest first as given; at most `limit` bars (the table has all)."""
    rows = [(str(label), int(n)) for label, n in rows]
    shown = rows[:limit]
    top = max((n for _, n in shown), default=0) or 1
    number_room = 36
    span = width - label_width - number_room
    height = max(1, len(shown)) * (bar_height + gap) + gap
    body: list[str] = []
    for i, (label, n) in enumerate(shown):
        y = gap + i * (bar_height + gap)
        length = span * n / top
        middle = y + bar_height / 2
        body.append(
            f"<g><title>{escape(label)}: {n}</title>"
            f'<text class="chart-label" x="{label_width - 6}" y="{_fmt(middle)}" '
            f'text-anchor="end" dominant-baseline="middle" font-size="12" fill="{TEXT_FILL}">'
            f"{escape(_shorten(label, 12))}</text>"
            f'<rect class="chart-bar" x="{label_width}" y="{y}" width="{_fmt(max(length, 1))}" '
            f'height="{bar_height}" rx="2" fill="{BAR_FILL}"/>'
            f'<text class="chart-value" x="{_fmt(label_width + length + 4)}" y="{_fmt(middle)}" '
            f'dominant-baseline="middle" font-size="12" fill="{TEXT_FILL}">{n}</text></g>'
        )
    if not shown:
        body.append(
            f'<text class="chart-empty" x="0" y="{_fmt(height / 2)}" dominant-baseline="middle" '
            f'font-size="12" fill="{MUTED_FILL}">No data</text>'
        )
    if len(rows) > limit:
        title = f"{title} (top {limit} of {len(rows)})"
    chart = Chart(chart_id, title, rows, label_heading=label_heading)
    chart.svg = _svg(chart_id, title, width, height, body)
    return chart


def histogram(
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, int]],
    *,
    width: int = 256,
    height: int = 150,
    axis_label: str = "",
    label_heading: str = "Value",
    tick: Callable[[str], str] = lambda label: label.split("-")[0],
) -> Chart:
    """Vertical bars side by side, each labelled by `tick` of its label (by default the
    start of a bucket: "40" for "40-49")."""
    rows = [(str(label), int(n)) for label, n in rows]
    top = max((n for _, n in rows), default=0) or 1
    bottom_room = 34 if axis_label else 20
    top_room = 16
    plot_height = height - bottom_room - top_room
    slot = width / max(1, len(rows))
    bar_width = max(2.0, slot * 0.78)
    baseline = top_room + plot_height
    body = [
        f'<line class="chart-axis" x1="0" y1="{baseline}" x2="{width}" y2="{baseline}" '
        f'stroke="{MUTED_FILL}" stroke-width="1"/>'
    ]
    for i, (label, n) in enumerate(rows):
        bar = plot_height * n / top
        x = i * slot + (slot - bar_width) / 2
        centre = i * slot + slot / 2
        short = tick(label)
        body.append(
            f"<g><title>{escape(label)}: {n}</title>"
            f'<rect class="chart-bar" x="{_fmt(x)}" y="{_fmt(baseline - bar)}" '
            f'width="{_fmt(bar_width)}" height="{_fmt(bar)}" fill="{BAR_FILL}"/>'
            + (
                f'<text class="chart-value" x="{_fmt(centre)}" y="{_fmt(baseline - bar - 3)}" '
                f'text-anchor="middle" font-size="10" fill="{TEXT_FILL}">{n}</text>'
                if n
                else ""
            )
            + f'<text class="chart-label" x="{_fmt(centre)}" y="{baseline + 13}" '
            f'text-anchor="middle" font-size="10" fill="{TEXT_FILL}">{escape(short)}</text></g>'
        )
    if axis_label:
        body.append(
            f'<text class="chart-axis-label" x="{_fmt(width / 2)}" y="{height - 4}" '
            f'text-anchor="middle" font-size="11" fill="{MUTED_FILL}">{escape(axis_label)}</text>'
        )
    chart = Chart(chart_id, title, rows, label_heading=label_heading)
    chart.svg = _svg(chart_id, title, width, height, body)
    return chart


# Distinct at a glance and readable as text colour on white; the legend carries the numbers.
PART_FILLS = ("#1f5f8b", "#b3541e", "#5a7d2a", "#6b6b6b")


@dataclass
class Part:
    label: str
    count: int
    percent: float
    fill: str


def proportion_bar(
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, int]],
    *,
    width: int = 320,
    height: int = 18,
) -> tuple[SafeString, list[Part]]:
    """One bar split in proportion to the counts (e.g. subjects by sex), plus its legend.

    The SVG is decorative (aria-hidden): the legend, rendered as text next to it,
    states every count and share.
    """
    rows = [(str(label), int(n)) for label, n in rows if int(n) > 0]
    total = sum(n for _, n in rows)
    parts: list[Part] = []
    body: list[str] = []
    x = 0.0
    for i, (label, n) in enumerate(rows):
        fill = PART_FILLS[i % len(PART_FILLS)]
        share = n / total if total else 0
        parts.append(Part(label, n, round(100 * share, 1), fill))
        w = width * share
        body.append(
            f'<rect x="{_fmt(x)}" y="0" width="{_fmt(w)}" height="{height}" fill="{fill}">'
            f"<title>{escape(label)}: {n}</title></rect>"
        )
        x += w
    svg = mark_safe(  # labels are escaped above
        f'<svg class="chart chart-proportion" id="{escape(chart_id)}" aria-hidden="true" '
        f'focusable="false" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )
    return svg, parts


# One colour per series of a stacked chart, in order; the legend names each in words.
SERIES_FILLS = ("#1f5f8b", "#5a7d2a", "#8a939c", "#b3541e", "#a4262c", "#6b4c9a")


@dataclass
class StackedChart:
    """Columns split into series (e.g. harvest results per run): the SVG, the legend's
    colours, and the rows (label, one count per series) for a visually hidden table."""

    id: str
    title: str
    series: list[str]
    rows: list[tuple[str, list[int]]]
    fills: list[str]
    svg: SafeString = field(default=SafeString(""))
    label_heading: str = "Value"

    @property
    def is_empty(self) -> bool:
        return not any(any(counts) for _, counts in self.rows)

    @property
    def legend(self) -> list[tuple[str, str]]:
        return list(zip(self.series, self.fills, strict=True))


def stacked_bars(
    chart_id: str,
    title: str,
    series: Sequence[str],
    rows: Sequence[tuple[str, Sequence[int]]],
    *,
    width: int = 480,
    height: int = 170,
    label_heading: str = "Value",
    tick: Callable[[str], str] = lambda label: label,
    max_ticks: int = 6,
    empty: Callable[[str], str] = lambda label: "0",
) -> StackedChart:
    """Vertical columns side by side, oldest first as given, each stacked from the first
    series at the bottom; at most `max_ticks` column labels are drawn (the table has all)."""
    series = [str(s) for s in series]
    rows = [(str(label), [int(n) for n in counts]) for label, counts in rows]
    for label, counts in rows:
        if len(counts) != len(series):
            raise ValueError(f"{label}: {len(counts)} counts for {len(series)} series")
    fills = [SERIES_FILLS[i % len(SERIES_FILLS)] for i in range(len(series))]
    top = max((sum(counts) for _, counts in rows), default=0) or 1
    bottom_room, top_room = 20, 16
    plot_height = height - bottom_room - top_room
    slot = width / max(1, len(rows))
    bar_width = max(2.0, slot * 0.72)
    baseline = top_room + plot_height
    every = max(1, -(-len(rows) // max(1, max_ticks)))
    body = [
        f'<line class="chart-axis" x1="0" y1="{baseline}" x2="{width}" y2="{baseline}" '
        f'stroke="{MUTED_FILL}" stroke-width="1"/>'
    ]
    for i, (label, counts) in enumerate(rows):
        x = i * slot + (slot - bar_width) / 2
        centre = i * slot + slot / 2
        total = sum(counts)
        described = ", ".join(f"{s} {n}" for s, n in zip(series, counts, strict=True) if n)
        parts = [f"<g><title>{escape(label)}: {escape(described or 'nothing')}</title>"]
        y = float(baseline)
        for name, n, fill in zip(series, counts, fills, strict=True):
            if not n:
                continue
            h = plot_height * n / top
            y -= h
            parts.append(
                f'<rect class="chart-segment" x="{_fmt(x)}" y="{_fmt(y)}" '
                f'width="{_fmt(bar_width)}" height="{_fmt(h)}" fill="{fill}">'
                f"<title>{escape(label)}: {escape(name)} {n}</title></rect>"
            )
        if bar_width >= 14:
            # An empty column says why (a failed run, say) rather than looking like a gap.
            parts.append(
                f'<text class="chart-value" x="{_fmt(centre)}" y="{_fmt(y - 3)}" '
                f'text-anchor="middle" font-size="10" fill="{TEXT_FILL if total else MUTED_FILL}">'
                f"{total if total else escape(empty(label))}</text>"
            )
        if i % every == 0 or i == len(rows) - 1:
            parts.append(
                f'<text class="chart-label" x="{_fmt(centre)}" y="{baseline + 13}" '
                f'text-anchor="middle" font-size="10" fill="{TEXT_FILL}">'
                f"{escape(tick(label))}</text>"
            )
        parts.append("</g>")
        body.append("".join(parts))
    if not rows:
        body.append(
            f'<text class="chart-empty" x="0" y="{_fmt(height / 2)}" dominant-baseline="middle" '
            f'font-size="12" fill="{MUTED_FILL}">No data</text>'
        )
    chart = StackedChart(chart_id, title, series, rows, fills, label_heading=label_heading)
    chart.svg = _svg(chart_id, title, width, height, body)
    return chart
