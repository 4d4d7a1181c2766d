"""Line charts as SVG, drawn by the benchmarks themselves (no plotting library needed).

    line_chart(Path("docs/charts/hub_ttft.svg"), title="Added TTFT p95", x_label="questions/s",
               y_label="ms", series={"hub": [(10, 42.0), (20, 48.0)], "relay": [(10, 3.0), (20, 4.0)]})

Each series is a list of (x, y) points, drawn in order as a polyline with a marker per point and
its value printed beside the last point; the axes get rounded ticks; ``log_y`` draws the y axis on
a log scale (for figures spanning orders of magnitude).
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

PLOT_WIDTH, HEIGHT = 420, 380
LEFT, TOP, BOTTOM = 72, 40, 56
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#57606a")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high] (1, 2 or 5 times a power of ten apart)."""
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten covering [low, high] (both > 0)."""
    first = math.floor(math.log10(low))
    last = math.ceil(math.log10(high))
    if last == first:
        last += 1
    return [10.0 ** p for p in range(first, last + 1)]


def label(value: float) -> str:
    """A short axis or point label: 12k, 1.5, 0.02, 250."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10_000:
        return f"{value / 1000:g}k"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 1:
        return f"{value:.3g}"
    return f"{value:.2g}"


def line_chart(path: Path, *, title: str, x_label: str, y_label: str,
               series: dict[str, list[tuple[float, float]]], log_y: bool = False) -> Path:
    """Write an SVG line chart of ``series`` to ``path`` (folders created) and return the path."""
    points = [(float(x), float(y)) for values in series.values() for x, y in values]
    if not points:
        raise ValueError("a chart needs at least one point")
    if log_y and any(y <= 0 for _, y in points):
        raise ValueError("a log scale needs positive values")
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    x_ticks = nice_ticks(min(xs), max(xs)) if len(set(xs)) > 1 else [xs[0] - 1, xs[0], xs[0] + 1]
    y_ticks = log_ticks(min(ys), max(ys)) if log_y else nice_ticks(min(0.0, min(ys)), max(ys))
    x0, x1 = x_ticks[0], x_ticks[-1]
    y0, y1 = y_ticks[0], y_ticks[-1]
    legend_w = 60 + 7 * max(len(name) for name in series)  # room for the longest series name
    plot_w, plot_h = PLOT_WIDTH, HEIGHT - TOP - BOTTOM
    WIDTH = LEFT + plot_w + legend_w  # noqa: N806

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        if log_y:
            share = (math.log10(y) - math.log10(y0)) / (math.log10(y1) - math.log10(y0))
        else:
            share = (y - y0) / (y1 - y0)
        return TOP + plot_h - share * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
           f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{escape(title)}</text>']
    for tick in y_ticks:
        y = py(tick)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#d0d7de"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{label(tick)}</text>')
    for tick in x_ticks:
        x = px(tick)
        out.append(f'<line x1="{x:.1f}" y1="{TOP + plot_h}" x2="{x:.1f}" y2="{TOP + plot_h + 5}" stroke="#57606a"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 19}" text-anchor="middle">{label(tick)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#57606a"/>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 14}" text-anchor="middle">{escape(x_label)}</text>')
    out.append(f'<text transform="translate(18 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">'
               f'{escape(y_label)}{" (log scale)" if log_y else ""}</text>')
    for i, (name, values) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        coords = [(px(float(x)), py(float(y))) for x, y in values]
        if len(coords) > 1:
            line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in coords:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>')
        if coords:
            x, y = coords[-1]
            out.append(f'<text x="{x + 6:.1f}" y="{y - 6:.1f}" fill="{colour}">{label(float(values[-1][1]))}</text>')
        legend_y = TOP + 14 + i * 18
        out.append(f'<line x1="{LEFT + plot_w + 12}" y1="{legend_y - 4}" x2="{LEFT + plot_w + 32}" y2="{legend_y - 4}" '
                   f'stroke="{colour}" stroke-width="3"/>')
        out.append(f'<text x="{LEFT + plot_w + 38}" y="{legend_y}">{escape(name)}</text>')
    out.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")
    return path
