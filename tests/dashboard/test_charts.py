"""``dashboard.charts``: bars and columns proportional to their values, every value written as
text (beside its bar and in the figure's table), a chart without data saying so, and every
text escaped. The SVG is parsed as XML, so a malformed drawing fails here."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from textos.dashboard.charts import BARS_LENGTH, COLUMNS_HEIGHT, Bar, bars, columns, compact

SVG = "{http://www.w3.org/2000/svg}"


def parsed(markup: str) -> ET.Element:
    """The figure as XML (the SVG namespace added, as a browser assumes it inline)."""
    return ET.fromstring(str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def drawn(figure: ET.Element) -> dict[str, tuple[float, float]]:
    """Label → (width, height) of each bar's rectangle."""
    return {g.get("data-label"): (float(r.get("width")), float(r.get("height")))
            for g in figure.iter(f"{SVG}g") for r in g.iter(f"{SVG}rect")}  # fmt: skip


def table(figure: ET.Element) -> dict[str, str]:
    return {row.find("th").text: row.find("td").text for row in figure.iter("tr")}


def test_bar_lengths_are_proportional_to_the_values_from_zero():
    figure = parsed(bars("c", "Messages by stage", [Bar("queued", 40), Bar("submitting", 10), Bar("awaiting", 0)]))
    lengths = {label: width for label, (width, _) in drawn(figure).items()}
    assert lengths == {"queued": BARS_LENGTH, "submitting": BARS_LENGTH / 4, "awaiting": 0}


def test_column_heights_are_proportional_and_stand_on_one_baseline():
    figure = parsed(columns("h", "Delivery time", [Bar("≤1s", 3), Bar("≤2s", 12), Bar("≤5s", 6), Bar("≤10s", 0)]))
    heights = {label: height for label, (_, height) in drawn(figure).items()}
    assert heights == {"≤1s": COLUMNS_HEIGHT / 4, "≤2s": COLUMNS_HEIGHT, "≤5s": COLUMNS_HEIGHT / 2, "≤10s": 0}
    bottoms = {round(float(r.get("y")) + float(r.get("height")), 1) for r in figure.iter(f"{SVG}rect")}
    assert len(bottoms) == 1


@pytest.mark.parametrize("draw", [bars, columns])
def test_a_chart_is_an_image_with_a_title_its_values_as_text_and_a_viewbox(draw):
    figure = parsed(draw("funnel", "Delivery funnel", [Bar("Accepted", 7), Bar("Delivered", 4, "4 (57.1 %)", "good")]))
    svg = figure.find(f"{SVG}svg")
    assert figure.find("figcaption").text == "Delivery funnel"
    assert svg.get("role") == "img" and svg.get("width") == "100%" and svg.get("viewBox").startswith("0 0 ")
    assert svg.find(f"{SVG}title").text == "Delivery funnel" and svg.get("aria-labelledby") == "funnel-title"
    assert figure.get("id") == "funnel"
    assert table(figure) == {"Accepted": "7", "Delivered": "4 (57.1 %)"}
    assert [g.get("data-value") for g in svg.iter(f"{SVG}g")] == ["7", "4"]
    assert "Delivered: 4 (57.1 %)" in [t.text for t in svg.iter(f"{SVG}title")]


@pytest.mark.parametrize("draw", [bars, columns])
@pytest.mark.parametrize("data", [[], [Bar("queued", 0), Bar("sent", 0)]])
def test_no_data_is_said_in_words_not_drawn_as_an_empty_chart(draw, data):
    figure = parsed(draw("errors", "Errors by ptt", data, empty="No error"))
    assert "empty" in figure.get("class")
    (text,) = figure.iter(f"{SVG}text")
    assert text.text == "No error" and not list(figure.iter(f"{SVG}rect"))
    assert figure.find(f"{SVG}svg/{SVG}title").text == "Errors by ptt"


@pytest.mark.parametrize("draw", [bars, columns])
def test_labels_titles_and_values_are_escaped(draw):
    hostile = '<script>alert("x")</script> & "quotes"'
    markup = str(draw('id"><b', hostile, [Bar(hostile, 2, hostile, hint=hostile)]))
    assert "<script>" not in markup and 'id"><b' not in markup
    figure = parsed(markup)
    assert figure.find(f"{SVG}svg/{SVG}title").text == hostile
    assert table(figure) == {hostile: hostile}
    (group,) = figure.iter(f"{SVG}g")
    assert group.get("data-label") == hostile


def labels_of(figure: ET.Element) -> list[ET.Element]:
    return [t for t in figure.iter(f"{SVG}text") if t.get("class") != "value"]


def test_column_labels_stand_level_when_they_fit_else_slant_and_thin_out_when_columns_are_too_narrow():
    level = labels_of(parsed(columns("few", "Per day", [Bar("03-01", 1), Bar("03-02", 2)])))
    assert [t.text for t in level] == ["03-01", "03-02"] and not any(t.get("transform") for t in level)
    edges = ["≤1s", "≤2s", "≤5s", "≤10s", "≤30s", "≤1m", "≤2m", "≤5m", "≤10m", "≤30m", "≤1h", "≤6h", "≤1d", ">1d"]
    slanted = labels_of(parsed(columns("h", "Delivery time", [Bar(e, 1) for e in edges])))
    assert [t.text for t in slanted] == edges and all(t.get("transform").startswith("rotate(-45") for t in slanted)
    days = [Bar(f"03-{d:02d}", d % 3) for d in range(1, 32)]
    figure = parsed(columns("stops", "STOPs per day", days))
    thinned = [t.text for t in labels_of(figure)]
    assert 0 < len(thinned) < len(days) and thinned[:2] == ["03-01", "03-03"]
    assert len(table(figure)) == 31  # every value in the table all the same


def test_compact_numbers_fit_under_a_column():
    assert [compact(n) for n in (0, 950, 9999, 12_345, 999_499, 999_500, 3_400_000)] == ["0", "950", "9999", "12k", "999k", "1M", "3.4M"]
