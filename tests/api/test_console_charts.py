"""The console's SVG charts (api/console/charts.py), pure: well-formed SVG, named and described for screen readers,
gaps where a value is missing, the target line, the axis scale, labels thinned on long periods, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from api.console.charts import (
    HEIGHT,
    MAX_X_LABELS,
    TOP,
    Scale,
    Series,
    bar_chart,
    divided,
    line_chart,
    percent,
    plain,
    short_week,
)

SVG = "{http://www.w3.org/2000/svg}"
WEEKS = ["W45", "W46", "W47", "W48"]


def parsed(markup: Markup) -> ET.Element:
    assert isinstance(markup, Markup)
    return ET.fromstring(str(markup))


def all_of(root: ET.Element, tag: str) -> list[ET.Element]:
    return list(root.iter(f"{SVG}{tag}"))


def texts(root: ET.Element, group: str) -> list[str]:
    found = next(g for g in all_of(root, "g") if g.get("class") == group)
    return [t.text or "" for t in found.iter(f"{SVG}text")]


def test_a_line_chart_is_an_image_with_a_name_and_a_description_of_every_value() -> None:
    root = parsed(
        line_chart(
            "kpi-csat",
            title="满意度",
            desc="每周的满意度",
            labels=WEEKS,
            series=[Series("CSAT", [0.5, None, 0.75, 0.8])],
            fmt=percent,
            ratio=True,
        )
    )
    assert root.get("role") == "img" and root.get("aria-labelledby") == "kpi-csat-title kpi-csat-desc"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert (title.get("id"), title.text) == ("kpi-csat-title", "满意度")
    assert desc.get("id") == "kpi-csat-desc"
    assert desc.text == "每周的满意度 CSAT: W45 50%, W46 —, W47 75%, W48 80%"
    assert texts(root, "y-labels") == ["0%", "25%", "50%", "75%", "100%"]  # a ratio's axis: 0-100 %
    assert texts(root, "x-labels") == WEEKS


def test_a_missing_value_leaves_a_gap_and_a_lone_value_is_a_dot() -> None:
    root = parsed(
        line_chart("c", title="t", desc="", labels=[*WEEKS, "W49"], series=[Series("s", [1.0, None, 2.0, 3.0, None])])
    )
    [line] = all_of(root, "polyline")  # W45 stands alone; W47-W48 are joined; nothing crosses the gaps
    assert len(line.get("points", "").split()) == 2
    circles = all_of(root, "circle")
    assert [c.findtext(f"{SVG}title") for c in circles] == ["s · W45: 1", "s · W47: 2", "s · W48: 3"]
    heights = [float(c.get("cy", "0")) for c in circles]
    assert heights[0] > heights[1] > heights[2] >= TOP  # a higher value is drawn higher


def test_the_target_is_a_dashed_line_at_its_height_with_its_label() -> None:
    root = parsed(
        line_chart(
            "c",
            title="t",
            desc="",
            labels=WEEKS,
            series=[Series("s", [0.2, 0.4, 0.6, 0.9])],
            fmt=percent,
            ratio=True,
            target=0.5,
            target_label="目标 50%",
        )
    )
    target = next(g for g in all_of(root, "g") if g.get("class") == "target")
    line = target.find(f"{SVG}line")
    assert line is not None and line.get("stroke-dasharray")
    grid_group = next(g for g in all_of(root, "g") if g.get("class") == "grid")
    grid = [float(g.get("y1", "0")) for g in grid_group.iter(f"{SVG}line")]
    assert float(line.get("y1", "0")) == pytest.approx((grid[0] + grid[-1]) / 2)  # halfway up the 0-100 % axis
    assert target.findtext(f"{SVG}text") == "目标 50%"


def test_a_target_above_every_value_still_fits_on_the_axis() -> None:
    root = parsed(line_chart("c", title="t", desc="", labels=WEEKS, series=[Series("s", [10, 12, 9, 11])], target=30))
    assert texts(root, "y-labels")[-1] == "30"


def test_several_series_get_a_legend_and_their_own_colours() -> None:
    root = parsed(
        line_chart(
            "c",
            title="t",
            desc="",
            labels=WEEKS,
            series=[Series("重点客户", [1, 1, 1, 1]), Series("居民", [0.5, 0.6, None, 0.7])],
            ratio=True,
        )
    )
    legend = next(g for g in all_of(root, "g") if g.get("class") == "legend")
    assert [t.text for t in legend.iter(f"{SVG}text")] == ["重点客户", "居民"]
    series = [g for g in all_of(root, "g") if (g.get("class") or "").startswith("series ") and g.get("stroke")]
    assert len(series) == 2 and series[0].get("stroke") != series[1].get("stroke")


def test_a_chart_with_nothing_measured_says_so() -> None:
    root = parsed(line_chart("c", title="t", desc="", labels=WEEKS, series=[Series("s", [None] * 4)], empty="暂无数据"))
    assert not all_of(root, "polyline") and not all_of(root, "circle")
    assert [t.text for t in all_of(root, "text") if t.get("class") == "empty"] == ["暂无数据"]
    assert "W45 —" in (root.findtext(f"{SVG}desc") or "")


def test_a_long_period_labels_some_weeks_and_always_the_latest() -> None:
    labels = [f"W{n}" for n in range(1, 54)]
    root = parsed(line_chart("c", title="t", desc="", labels=labels, series=[Series("s", [1.0] * 53)]))
    shown = texts(root, "x-labels")
    assert len(shown) <= MAX_X_LABELS and shown[-1] == "W53"
    assert len(all_of(root, "circle")) == 53


def test_a_bar_chart_draws_a_bar_per_known_value_with_its_value() -> None:
    root = parsed(bar_chart("r", title="回复数", desc="每周", labels=WEEKS, values=[4, None, 0, 8], fmt=plain))
    bars = [r for r in all_of(root, "rect") if r.get("class") == "bar"]
    assert [b.findtext(f"{SVG}title") for b in bars] == ["W45: 4", "W47: 0", "W48: 8"]
    assert float(bars[2].get("height", "0")) == pytest.approx(2 * float(bars[0].get("height", "0")))
    assert float(bars[1].get("height", "1")) == 0
    assert [t.text for t in all_of(root, "text") if t.get("class") == "value"] == ["4", "0", "8"]
    assert root.findtext(f"{SVG}desc") == "每周 W45 4, W46 —, W47 0, W48 8"
    assert all(float(b.get("y", "0")) + float(b.get("height", "0")) <= HEIGHT for b in bars)


def test_text_is_escaped_and_the_id_is_kept_to_safe_characters() -> None:
    markup = line_chart(
        'x" onload="alert(1)',
        title="<script>alert(1)</script>",
        desc="a & b",
        labels=["<W1>"],
        series=[Series("<s>", [1.0])],
    )
    root = parsed(markup)  # still well-formed
    assert "<script>" not in str(markup) and "onload=" not in str(markup)
    assert root.findtext(f"{SVG}title") == "<script>alert(1)</script>"
    assert root.get("id") == "x--onload--alert-1-"


@pytest.mark.parametrize(
    ("peak", "integers", "expected"),
    [
        (5, False, Scale(6, 2)),
        (0.37, False, Scale(0.4, 0.1)),
        (1234, False, Scale(1500, 500)),
        (0, False, Scale(1, 0.25)),
        (1, True, Scale(1, 1)),
        (7, True, Scale(8, 2)),
        (100, True, Scale(100, 25)),
    ],
)
def test_the_axis_reaches_the_peak_in_at_most_four_round_steps(peak: float, integers: bool, expected: Scale) -> None:
    scale = Scale.fit(peak, integers=integers)
    assert (scale.top, scale.step) == pytest.approx((expected.top, expected.step))
    assert scale.top >= peak and len(scale.ticks()) <= 5


def test_formats() -> None:
    assert (plain(3), plain(2.25), percent(0.8125), short_week("2026-W48")) == ("3", "2.2", "81%", "W48")


def test_values_change_unit_and_keep_their_gaps() -> None:
    assert divided([90.0, None, 30.0], 60) == [1.5, None, 0.5]
