"""CSV cells: OVH's quoting, spreadsheet formulas neutralised, E.164 numbers left usable."""

from __future__ import annotations

import datetime as dt

import pytest

from textos.domain.csv_cells import bare, csv_date, neutralised, quoted


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://x")', "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "+33 6 12", "+", "+3361234567890123"])
def test_a_cell_a_spreadsheet_would_read_as_a_formula_gets_a_quote_in_front(cell):
    assert neutralised(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["+33612345678", "+1", "Hello", "", "a=b", " =x", "36111"])
def test_plain_e164_numbers_and_ordinary_text_are_left_as_they_are(cell):
    assert neutralised(cell) == cell


def test_text_cells_are_quoted_with_inner_quotes_doubled_and_line_breaks_kept():
    assert quoted('say "hi";\nbye') == '"say ""hi"";\nbye"'
    assert quoted('=1+1') == '"\'=1+1"'
    assert quoted(None) == '""'


def test_bare_cells_stay_unquoted_unless_they_hold_csv_syntax():
    assert bare("+33612345678") == "+33612345678"
    assert bare(1.5) == "1.5" and bare(None) == ""
    assert bare("a;b") == '"a;b"'
    assert bare("-1;x") == "\"'-1;x\""


def test_dates_are_written_to_the_second():
    assert csv_date(dt.datetime(2026, 11, 3, 4, 5, 6, 789)) == "2026-11-03 04:05:06"
    assert csv_date(None) == ""
