"""The report in a real browser: headless Chromium (Debian's ``chromium``), networking off.

The test fails, never skips, when no browser is installed: ``make test``
installs it. See ``tests/browser.py`` for how the browser is driven.
"""
from pathlib import Path

import pytest

from pipelines.cli import main
from tests import report_fixtures as fx
from tests.browser import Browser, distinct_colours, find_browser

A4_PRINTABLE_PX = 703  # 210 mm less 2 x 12 mm margins, at 96 px per inch

MARKS = """
[...document.querySelectorAll('.chart')].map(chart => ({
  id: chart.id,
  svg: chart.querySelectorAll('.main-svg').length,
  marks: [...chart.querySelectorAll('.main-svg .cartesianlayer .trace path')].filter(path => {
    const box = path.getBBox(); return box.width > 0 && box.height > 0; }).length,
  title: (chart.querySelector('.gtitle') || {}).textContent || '',
  axes: [...chart.querySelectorAll('.xtitle, .ytitle')].map(node => node.textContent),
}))
"""
OVERFLOW = """
[...document.querySelectorAll('.card')]
    .filter(card => card.scrollWidth > card.clientWidth + 1).length
"""


@pytest.fixture(scope="module")
def browser_binary():
    binary = find_browser()
    if binary is None:
        pytest.fail("no headless browser: install Debian's chromium "
            "(make test does: apt-get install -y chromium)")
    return binary


def report_of(out: Path) -> Path:
    assert main(["report", str(out)]) == 0
    return out / "report.html"


def assert_clean(browser: Browser, page: Path) -> None:
    assert browser.console_errors() == []
    assert browser.failed_requests() == []
    assert browser.requests() == [page.resolve().as_uri()]  # the file itself, nothing else


def test_every_chart_renders_offline_without_errors(tmp_path, browser_binary):
    page = report_of(fx.write_undated(tmp_path / "out", outcomes=True))
    expected = page.read_text().count('class="chart"')
    assert expected == 11
    with Browser(browser_binary, timeout=90) as browser:
        browser.open(page)
        rendered = browser.wait_for(
            f"document.querySelectorAll('.chart .main-svg').length >= {expected} * 2 && "
            "[...document.querySelectorAll('.chart')]"
            ".every(chart => chart.querySelector('.cartesianlayer .trace'))",
            60)
        assert rendered
        charts = browser.evaluate(MARKS)
        assert len(charts) == expected
        for chart in charts:
            assert chart["marks"] > 0, chart
            assert chart["title"] and len([axis for axis in chart["axes"] if axis]) == 2, chart
        # The hostile skipped event name is a label, not markup.
        assert browser.evaluate("document.querySelectorAll('img').length") == 0
        assert fx.HOSTILE_EVENT_NAME in browser.evaluate(
            "[...document.querySelectorAll('.ytick text')].map(t => t.textContent)")

        # 1280 px: two charts side by side, nothing wider than its card or the window.
        assert browser.evaluate("document.documentElement.scrollWidth") <= 1280
        assert browser.evaluate(OVERFLOW) == 0
        tops = browser.evaluate("[...document.querySelectorAll('.grid')].map(g => "
                                "[...g.children].map(c => Math.round(c.getBoundingClientRect().top)))")
        assert any(len(row) >= 2 and row[0] == row[1] for row in tops)
        shot = browser.screenshot()
        assert shot.startswith(b"\x89PNG") and distinct_colours(shot) > 50

        # A4: in print media at the printable width, one column and nothing cut off.
        browser.call("Emulation.setEmulatedMedia", media="print")
        browser.call("Emulation.setDeviceMetricsOverride", width=A4_PRINTABLE_PX, height=1000, deviceScaleFactor=1,
                     mobile=False)
        assert browser.evaluate("document.documentElement.scrollWidth") <= A4_PRINTABLE_PX
        assert browser.evaluate("Math.max(...[...document.querySelectorAll('.chart')].map(c => "
                                "c.getBoundingClientRect().right))") <= A4_PRINTABLE_PX
        assert browser.pdf().startswith(b"%PDF-")
        assert_clean(browser, page)


def test_empty_output_page_in_the_browser(tmp_path, browser_binary):
    out = tmp_path / "out"
    fx.write_undated(out)
    for table in ("retries", "course_lineage", "dead_letter"):
        for part in (out / table).rglob("*.parquet"):
            part.unlink()
    fx.write(out / "retries" / "part-empty-00000.parquet", fx.RETRIES.schema.empty_table())
    fx.write(out / "course_lineage" / "part-empty-00000.parquet", fx.COURSE_LINEAGE.schema.empty_table())
    fx.write(out / "dead_letter" / "part-empty-00000.parquet", fx.DEAD_LETTER.schema.empty_table())
    page = report_of(out)
    with Browser(browser_binary, timeout=90) as browser:
        browser.open(page)
        assert "Nothing yet." in browser.evaluate("document.body.innerText")
        assert browser.evaluate("document.querySelectorAll('.chart').length") == 0
        assert distinct_colours(browser.screenshot()) > 10
        assert_clean(browser, page)
