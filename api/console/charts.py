"""Small SVG charts for the console's pages, drawn as markup (no plotting library, no script): a line chart of
weekly values (one or more series, an optional target line) and a bar chart.

Pure functions: numbers and the words to show in, escaped SVG out (`markupsafe.Markup`, so a template prints it
as it is). A value may be None: nothing was measured that week; a line chart leaves a gap there (a lone point
between two gaps is drawn as a dot), a bar chart no bar. Every chart is an image with a name and a description
(`role="img"`, <title> and <desc>, the description listing every value, so a screen reader hears the data), the
axes are labelled, and each point or bar carries its value as a tooltip. The drawing scales with its box
(viewBox; the stylesheet gives it the width of its container); its colours are presentation attributes (series
told apart by colour and by the legend's names), which the stylesheet's `.chart` rules may refine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 360, 190  # the viewBox
LEFT, RIGHT, TOP, BOTTOM = 42, 12, 28, 28  # room for the y labels, the legend and the x labels
FONT = 12  # user units: ~11 px at the width of a dashboard card
MAX_X_LABELS = 8  # more weeks than this: every n-th is labelled (the latest always)
MAX_BAR_VALUES = 14  # more bars than this: no value written above them (the tooltip still has it)
PALETTE = ("#0969da", "#bc4c00", "#1a7f37", "#8250df")  # series 0, 1, ... (told apart by the legend too)
NONE = "—"  # how a missing value reads in the description and tooltips

Format = Callable[[float], str]


def plain(value: float) -> str:
    """A count or measure: whole numbers without decimals, others with one."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def percent(value: float) -> str:
    """A fraction 0-1 as a whole percentage."""
    return f"{value * 100:.0f}%"


def percent1(value: float) -> str:
    """A fraction 0-1 as a percentage with one decimal."""
    return f"{value * 100:.1f}%"


def divided(values: Sequence[float | None], by: float) -> list[float | None]:
    """Values in another unit (seconds as minutes: by 60), gaps kept."""
    return [None if v is None else v / by for v in values]


def short_week(label: str) -> str:
    """An ISO week as an axis label: "2026-W48" -> "W48"."""
    return label.rpartition("-")[2] or label


def short_weeks(labels: Iterable[str]) -> list[str]:
    return [short_week(label) for label in labels]


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float | None]


@dataclass(frozen=True, slots=True)
class Scale:
    """The y axis: 0 to `top`, a grid line every `step`."""

    top: float
    step: float

    @classmethod
    def fit(cls, peak: float, *, integers: bool = False, fixed_top: float | None = None) -> Scale:
        """At most four steps of 1, 2, 2.5 or 5 × 10^k reaching `peak` (integers: steps of at least 1); or
        quarters of `fixed_top` (a ratio's 0-1)."""
        if fixed_top is not None:
            return cls(fixed_top, fixed_top / 4)
        peak = max(peak, 1.0 if integers else 0.0) or 1.0
        magnitude = 10.0 ** math.floor(math.log10(peak / 4))
        step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude * 4 >= peak)
        if integers:
            step = float(max(1, math.ceil(step)))
        return cls(step * math.ceil(peak / step - 1e-9), step)

    def ticks(self) -> list[float]:
        count = round(self.top / self.step)
        return [self.step * i for i in range(count + 1)]


@dataclass(frozen=True, slots=True)
class Frame:
    """Where things go: n bands across the plot, values up to the scale's top."""

    n: int
    scale: Scale

    @property
    def band(self) -> float:
        return (WIDTH - LEFT - RIGHT) / max(self.n, 1)

    def x(self, index: int) -> float:
        return LEFT + (index + 0.5) * self.band

    def y(self, value: float) -> float:
        share = min(max(value / self.scale.top, 0.0), 1.0) if self.scale.top else 0.0
        return (HEIGHT - BOTTOM) - share * (HEIGHT - TOP - BOTTOM)


# ---------------------------------------------------------------------------------------------------- charts
def line_chart(
    chart_id: str,
    *,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Format = plain,
    target: float | None = None,
    target_label: str = "",
    ratio: bool = False,
    integers: bool = False,
    empty: str = "",
) -> Markup:
    """Weekly values as lines (gaps where a value is None), with a dashed target line when given. `ratio`: the
    axis is 0-100 % whatever the values; `integers`: grid steps of whole numbers (counts); `empty`: the words
    shown across a chart with no value at all."""
    values = [v for s in series for v in s.values if v is not None]
    peak = max([*values, *([target] if target is not None else [])], default=0.0)
    frame = Frame(len(labels), Scale.fit(peak, integers=integers, fixed_top=1.0 if ratio else None))
    parts = [*_grid(frame, fmt), *_x_labels(frame, labels)]
    if target is not None:
        parts.append(_target(frame, target, target_label or fmt(target)))
    for index, one in enumerate(series):
        parts.append(_line(frame, index, one, labels, fmt))
    if len(series) > 1:
        parts.append(_legend([s.name for s in series]))
    if not values and empty:
        parts.append(_empty(empty))
    return _svg(chart_id, title, _described(desc, labels, series, fmt), parts, "line")


def bar_chart(
    chart_id: str,
    *,
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    fmt: Format = plain,
    integers: bool = True,
    empty: str = "",
) -> Markup:
    """One bar per label (none where the value is None), its value written above it when there are few."""
    known = [v for v in values if v is not None]
    frame = Frame(len(labels), Scale.fit(max(known, default=0.0), integers=integers))
    parts = [*_grid(frame, fmt), *_x_labels(frame, labels)]
    width = min(frame.band * 0.6, 40.0)
    show_values = len(labels) <= MAX_BAR_VALUES
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        if value is not None:
            parts.append(_bar(frame, index, f"{label}: {fmt(value)}", width, value))
            if show_values:
                parts.append(_at(frame.x(index), frame.y(value) - 4, fmt(value), 'class="value" text-anchor="middle"'))
    if not known and empty:
        parts.append(_empty(empty))
    return _svg(chart_id, title, _described(desc, labels, [Series("", values)], fmt), parts, "bar")


# ------------------------------------------------------------------------------------------------------ parts
def _svg(chart_id: str, title: str, desc: str, parts: list[str], kind: str) -> Markup:
    ident = re.sub(r"[^a-zA-Z0-9_-]", "-", chart_id)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc" font-size="{FONT}" id="{ident}">'
        f'<title id="{ident}-title">{escape(title)}</title><desc id="{ident}-desc">{escape(desc)}</desc>'
        + "".join(parts)
        + "</svg>"
    )


def _described(desc: str, labels: Sequence[str], series: Sequence[Series], fmt: Format) -> str:
    """The caller's description, then every value: "… CSAT: W47 80%, W48 —; …"."""
    lines = []
    for one in series:
        pairs = ", ".join(f"{label} {_text(v, fmt)}" for label, v in zip(labels, one.values, strict=True))
        lines.append(f"{one.name}: {pairs}" if one.name else pairs)
    return " ".join([desc, "; ".join(lines)]) if desc else "; ".join(lines)


def _text(value: float | None, fmt: Format) -> str:
    return NONE if value is None else fmt(value)


def _grid(frame: Frame, fmt: Format) -> list[str]:
    parts = ['<g class="grid" stroke="#d1d9e0">']
    for tick in frame.scale.ticks():
        y = frame.y(tick)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
    parts.append('</g><g class="y-labels" text-anchor="end" fill="#59636e">')
    for tick in frame.scale.ticks():
        parts.append(_at(LEFT - 6, frame.y(tick) + FONT / 3, fmt(tick)))
    parts.append("</g>")
    return parts


def _x_labels(frame: Frame, labels: Sequence[str]) -> list[str]:
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    last = len(labels) - 1
    parts = ['<g class="x-labels" text-anchor="middle" fill="#59636e">']
    for index, label in enumerate(labels):
        if (last - index) % every == 0:
            parts.append(_at(frame.x(index), HEIGHT - BOTTOM + FONT + 6, label))
    parts.append("</g>")
    return parts


def _target(frame: Frame, target: float, label: str) -> str:
    """A dashed line across the plot at the target, named in the top right corner (where no point is drawn)."""
    end = WIDTH - RIGHT - _width(label) - 6
    across, key = _dashed(LEFT, WIDTH - RIGHT, frame.y(target)), _dashed(end - 18, end, TOP - 13)
    text = _at(WIDTH - RIGHT, TOP - 9, label, 'text-anchor="end" fill="#7d4e00"')
    return f'<g class="target">{across}{key}{text}</g>'


def _dashed(x1: float, x2: float, y: float) -> str:
    return f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#bf8700" stroke-dasharray="5 4"/>'


def _bar(frame: Frame, index: int, tip: str, width: float, value: float) -> str:
    x, y, bottom = frame.x(index), frame.y(value), HEIGHT - BOTTOM
    return (
        f'<rect class="bar" x="{x - width / 2:.1f}" y="{y:.1f}" width="{width:.1f}" height="{max(bottom - y, 0):.1f}" '
        f'fill="#0969da"><title>{escape(tip)}</title></rect>'
    )


def _at(x: float, y: float, text: str, attributes: str = "") -> str:
    """A text at (x, y) (its baseline)."""
    return f'<text x="{x:.1f}" y="{y:.1f}"{" " + attributes if attributes else ""}>{escape(text)}</text>'


def _runs(values: Sequence[float | None]) -> list[list[int]]:
    """The indexes of consecutive known values: [[0, 1, 2], [4], [6, 7]] for a gap at 3 and at 5."""
    runs: list[list[int]] = []
    current: list[int] = []
    for index, value in enumerate(values):
        if value is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(index)
    if current:
        runs.append(current)
    return runs


def _line(frame: Frame, number: int, series: Series, labels: Sequence[str], fmt: Format) -> str:
    colour = PALETTE[number % len(PALETTE)]
    parts = [f'<g class="series series-{number}" stroke="{colour}" fill="{colour}">']
    for run in _runs(series.values):
        if len(run) > 1:
            points = " ".join(f"{frame.x(i):.1f},{frame.y(v):.1f}" for i in run if (v := series.values[i]) is not None)
            parts.append(f'<polyline points="{points}" fill="none" stroke-width="2"/>')
    for index, value in enumerate(series.values):
        if value is not None:
            tip = f"{series.name + ' · ' if series.name else ''}{labels[index]}: {fmt(value)}"
            x, y = frame.x(index), frame.y(value)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(tip)}</title></circle>')
    parts.append("</g>")
    return "".join(parts)


def _legend(names: Sequence[str]) -> str:
    """Swatches and names along the top, left to right."""
    parts = ['<g class="legend">']
    x = float(LEFT)
    for number, name in enumerate(names):
        swatch = f'<rect x="{x:.1f}" y="{TOP - 18}" width="10" height="10"/>'
        parts.append(f'<g class="series series-{number}" fill="{PALETTE[number % len(PALETTE)]}">{swatch}</g>')
        parts.append(_at(x + 14, TOP - 9, name, 'fill="#1f2328"'))
        x += 14 + _width(name) + 12
    parts.append("</g>")
    return "".join(parts)


def _width(text: str) -> float:
    """Roughly how wide a text is drawn: a CJK character a full em, others about 0.6."""
    return sum(FONT if ord(ch) >= 0x2E80 else FONT * 0.6 for ch in text)


def _empty(words: str) -> str:
    x, y = (LEFT + WIDTH - RIGHT) / 2, (TOP + HEIGHT - BOTTOM) / 2
    return _at(x, y, words, 'class="empty" text-anchor="middle" fill="#59636e"')
