"""The report page: Plotly charts and HTML tables of ``report_data``'s aggregates, in one file.

Everything the page needs is inside it: plotly.js is inlined once, each chart
is a ``Plotly.newPlot`` call on its JSON, the style sheet is inline. Text that
comes from the data (course ids, event names, file names) is escaped for HTML,
and chart JSON is escaped so that no string can close its ``<script>``.
Charts have fixed sizes that fit two per row at 1280 px and one per row on A4.
"""
from __future__ import annotations

import datetime as dt
import html

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from transforms import report_data as data

CHART_WIDTH = 560
CHART_HEIGHT = 340
WIDE_HEIGHT = 380
STATUS_COLOURS = {"matched": "#2e7d32", "same_course": "#1565c0", "source_mismatch": "#ef6c00",
                  "no_migration": "#9e9e9e"}
BAR_COLOUR = "#3f51b5"
LOG_TICKS = [(1, "1 s"), (10, "10 s"), (60, "1 min"), (600, "10 min"), (3600, "1 h"), (21600, "6 h"),
             (86400, "1 day"), (604800, "1 week"), (2592000, "30 days"), (31536000, "1 year")]
LABEL_CHARS = 60


def _label(text, chars: int = LABEL_CHARS, keep_end: bool = False) -> str:
    """Data text as a chart label: shortened and escaped (Plotly reads labels as HTML)."""
    text = str(text)
    if len(text) > chars:
        text = "…" + text[-(chars - 1):] if keep_end else text[:chars - 1] + "…"
    return html.escape(text)


def _layout(title: str, x_title: str, y_title: str, height: int = CHART_HEIGHT, **extra) -> dict:
    return {
        "title": {"text": title, "x": 0.02, "font": {"size": 15}},
        "width": CHART_WIDTH, "height": height, "autosize": False,
        "margin": {"l": 70, "r": 20, "t": 50, "b": 60},
        "font": {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12},
        "xaxis": {"title": {"text": x_title}, "automargin": True},
        "yaxis": {"title": {"text": y_title}, "automargin": True, "rangemode": "tozero"},
        "plot_bgcolor": "#fafafa", "paper_bgcolor": "#ffffff",
        **extra,
    }


def bar_chart(title: str, x_title: str, y_title: str, labels, values, horizontal: bool = False,
              colour: str | list[str] = BAR_COLOUR, percent: bool = False, file_labels: bool = False) -> go.Figure:
    """A bar chart of ``values`` by ``labels``, bars labelled (as percentages if ``percent``)."""
    text = [f"{value:.1%}" if percent else f"{value:,}" for value in values]
    if horizontal:
        shown = [_label(label, 40, keep_end=True) if file_labels else _label(label) for label in labels]
        trace = go.Bar(x=list(values), y=shown, orientation="h",
                       marker_color=colour, text=text, textposition="outside", cliponaxis=False)
        layout = _layout(title, x_title, y_title, height=max(CHART_HEIGHT, 90 + 22 * len(values)))
        layout["yaxis"] = {"title": {"text": y_title}, "automargin": True, "autorange": "reversed",
                           "type": "category"}
        layout["margin"].update({"l": 10, "r": 60})
    else:
        trace = go.Bar(x=[_label(label) for label in labels], y=list(values), marker_color=colour,
                       text=text, textposition="outside", cliponaxis=False)
        layout = _layout(title, x_title, y_title)
        layout["xaxis"]["type"] = "category"
    value_axis = layout["xaxis" if horizontal else "yaxis"]
    if percent:
        value_axis["tickformat"] = ".0%"
    elif values and max(values) <= 10:
        value_axis["dtick"] = 1  # counts: no ticks at halves
    return go.Figure(trace, layout)


def stacked_bars(title: str, x_title: str, y_title: str, rows: list[tuple[str, str, int]],
                 colours: dict[str, str] | None = None, order: tuple[str, ...] = ()) -> go.Figure:
    """Rows (x, series, count) as bars stacked by series."""
    xs = sorted({x for x, _, _ in rows})
    series = [name for name in order if any(s == name for _, s, _ in rows)]
    series += sorted({s for _, s, _ in rows} - set(series))
    counts = {(x, s): n for x, s, n in rows}
    traces = [go.Bar(name=_label(name), x=[_label(x) for x in xs], y=[counts.get((x, name), 0) for x in xs],
                     marker_color=(colours or {}).get(name)) for name in series]
    layout = _layout(title, x_title, y_title, barmode="stack",
                     legend={"orientation": "h", "y": -0.28, "x": 0})
    layout["margin"]["b"] = 100
    layout["xaxis"]["type"] = "category"
    if max((sum(counts.get((x, name), 0) for name in series) for x in xs), default=0) <= 10:
        layout["yaxis"]["dtick"] = 1
    return go.Figure(traces, layout)


def log_step_histogram(title: str, x_title: str, bins: list[tuple[float, float, int]],
                       y_title: str = "retries") -> go.Figure:
    """A histogram of log-spaced bins drawn as a filled step line on a log axis."""
    xs, ys = [], []
    for lower, upper, count in bins:
        xs += [lower, upper]
        ys += [count, count]
    trace = go.Scatter(x=xs, y=ys, mode="lines", fill="tozeroy", line={"color": BAR_COLOUR, "width": 1.5},
                       hovertemplate="%{x:.3s} s: %{y:,} " + y_title + "<extra></extra>")
    layout = _layout(title, x_title, y_title + " per quarter decade")
    low, high = (bins[0][0], bins[-1][1]) if bins else (1, 10)
    ticks = [(value, text) for value, text in LOG_TICKS if low / 10 <= value <= high * 10]
    layout["xaxis"].update({"type": "log", "tickvals": [value for value, _ in ticks],
                            "ticktext": [text for _, text in ticks]})
    if max(ys, default=0) <= 10:
        layout["yaxis"]["dtick"] = 1
    return go.Figure(trace, layout)


# --- HTML ------------------------------------------------------------------------------

STYLE = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --ok: #1a7f37; --bad: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: #f6f8fa; }
main { max-width: 1220px; margin: 0 auto; padding: 20px 16px 40px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 10px; padding-bottom: 4px;
     border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 0 0 8px; }
.meta, .note { color: var(--muted); }
.note { margin: 6px 0 0; font-size: 13px; }
.notice { background: #fff8c5; border: 1px solid #d4a72c; padding: 12px 16px; border-radius: 6px;
          margin: 16px 0; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 10px; }
.figure { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.figure .value { font-size: 22px; font-weight: 600; }
.figure .name { color: var(--muted); font-size: 12px; }
.figure.ok .value { color: var(--ok); } .figure.bad .value { color: var(--bad); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(570px, 1fr)); gap: 12px;
        align-items: start; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px;
        min-width: 0; break-inside: avoid; page-break-inside: avoid; }
.chart { width: 560px; max-width: 100%; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eaeef2; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.id { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 11px;
        word-break: break-all; }
footer { margin-top: 28px; color: var(--muted); font-size: 12px; }
@page { size: A4; margin: 12mm; }
@media print {
  body { background: #fff; }
  main { max-width: none; padding: 0; }
  .grid { display: block; }
  .card { margin-bottom: 10px; border: none; padding: 0; }
  h2 { break-after: avoid; page-break-after: avoid; }
}
"""


def _script_json(value) -> str:
    """JSON that is safe inside a <script> element whatever strings it holds."""
    return value.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class Page:
    """Collects sections of HTML and charts, then renders the whole file."""

    def __init__(self):
        self.parts: list[str] = []
        self.charts: list[tuple[str, go.Figure]] = []

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def chart(self, figure: go.Figure, note: str = "") -> str:
        chart_id = f"chart-{len(self.charts) + 1}"
        self.charts.append((chart_id, figure))
        note_html = f'<p class="note">{note}</p>' if note else ""
        return f'<div class="card"><div class="chart" id="{chart_id}"></div>{note_html}</div>'

    def render(self, title: str) -> str:
        plots = []
        for chart_id, figure in self.charts:
            spec = _script_json(figure.to_json())
            plots.append(f'(function () {{ var f = {spec}; Plotly.newPlot("{chart_id}", f.data, f.layout, '
                         f'{{displaylogo: false, responsive: false, displayModeBar: false}}); }})();')
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
            f"<script>{get_plotlyjs()}</script></head><body><main>\n"
            + "\n".join(self.parts)
            + f"\n</main><script>\n{chr(10).join(plots)}\n</script></body></html>\n"
        )


def _figure(name: str, value: str, state: str = "") -> str:
    return (f'<div class="figure {state}"><div class="value">{html.escape(value)}</div>'
            f'<div class="name">{html.escape(name)}</div></div>')


def _percent(value: float | None) -> str:
    """A share as a percentage; under 1 % with two decimals, so a few rows never read as 0.0 %."""
    if value is None:
        return "n/a"
    return f"{value:.2%}" if 0 < value < 0.01 else f"{value:.1%}"


def _check(name: str, value) -> str:
    if value is None:
        return _figure(name, "not recorded")
    return _figure(name, "passed" if value else "FAILED", "ok" if value else "bad")


def _table(headers: list[tuple[str, str]], rows: list[list[str]], title: str) -> str:
    head = "".join(f'<th class="{kind}">{html.escape(text)}</th>' for text, kind in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="{kind}">{html.escape(cell)}</td>' for cell, (_, kind) in zip(row, headers, strict=True))
        + "</tr>" for row in rows)
    return f'<div class="card"><h3>{html.escape(title)}</h3><table><tr>{head}</tr>{body}</table></div>'


def _none(title: str, text: str) -> str:
    return (
        f'<div class="card"><h3>{html.escape(title)}</h3>'
        f'<p class="note">{html.escape(text)}</p></div>'
    )


def _kind_line(output: data.Output) -> str:
    if output.kind == data.DATED:
        days = [period.label for period in output.periods]
        return f"dated batch output, {len(days)} ingest day(s) {days[0]} to {days[-1]}"
    if output.kind == data.STREAMING:
        return f"streaming output, {len(output.periods)} summary record(s)"
    return "batch output"


def headline_section(page: Page, figures: dict, output: data.Output) -> None:
    """The headline figures and the balance check."""
    terms = figures["balance_terms"]
    page.add("<h2>Headline figures</h2><div class=\"figures\">" + "".join([
        _figure("lines read", f"{figures['lines_read']:,}"),
        _figure("retries", f"{figures['retries']:,}"),
        _figure("courses retried", f"{figures['courses_retried']:,}"),
        _figure("assignments retried", f"{figures['assignments_retried']:,}"),
        _figure("copy source known (matched)", _percent(figures["matched_share"])),
        _figure("dead-letter rate", _percent(figures["dead_letter_rate"])),
        _figure("duplicates dropped", f"{figures['duplicates']:,}"),
        _figure(f"pseudonymisation ({figures['pseudonymization']})",
                {"hmac-sha256": "on", "disabled": "off"}.get(figures["pseudonymization"],
                                                           figures["pseudonymization"])),
        _check("summary balance check", figures["balanced"]),
        *([_check("outputs complete check", figures["outputs_complete"])] if output.kind != data.STREAMING else []),
        _figure("lineage edges", f"{figures['lineage_edges']:,}"),
    ]) + "</div>")
    page.add(f'<p class="note">Balance: lines read {terms["lines_read"]:,} '
             f'{"=" if figures["balanced"] else "≠"} blank {terms["blank_lines"]:,} + dead-lettered '
             f'{terms["dead_lettered"]:,} + skipped {terms["skipped"]:,} '
             f'+ duplicates {terms["duplicates"]:,} '
             f'+ accepted {terms["accepted"]:,}.</p>')


def retries_sections(page: Page, connection) -> None:
    """Retries over time, where they come from, their lineage and their attempts."""
    page.add("<h2>Retries over time</h2>")
    per_day = data.retries_per_day(connection)
    page.add('<div class="grid">' + page.chart(stacked_bars(
        "Retries per UTC day, by lineage status", "event date (UTC)", "retries per day", per_day,
        STATUS_COLOURS, data.LINEAGE_STATUSES)))
    statuses = data.lineage_status_counts(connection)
    page.add(page.chart(bar_chart(
        "Retries by lineage status", "lineage_status", "share of retries", [s for s, _, _ in statuses],
        [share for _, _, share in statuses], colour=[STATUS_COLOURS.get(s, BAR_COLOUR) for s, _, _ in statuses],
        percent=True),
        "matched: the copy source is known; "
            "source_mismatch: the course was copied from another course; "
        "no_migration: no copy into the course is known; "
            "same_course: a retry within one course. "
        + ", ".join(f"{status}: {count:,}" for status, count, _ in statuses) + ".") + "</div>")

    page.add("<h2>Where retries come from</h2><div class=\"grid\">")
    for column, title in (("root_course_uuid", "Root courses with the most retries"),
                          ("original_course_uuid", "Source courses with the most retries")):
        rows = [[row.course, f"{row.retries:,}", f"{row.share:.1%}", row.last_retry + " UTC"]
                for row in data.top_courses(connection, column)]
        page.add(_table([("course uuid", "id"), ("retries", "num"), ("share", "num"), ("last retry", "num")],
                        rows, title))
    kinds = data.migration_types(connection)
    page.add(page.chart(bar_chart("Retries by migration type", "migration_type of the matched migration",
                                  "retries", [k for k, _ in kinds], [n for _, n in kinds]),
                        "(none): the retry has no migration into its course (same_course or no_migration)."))
    page.add("</div>")

    page.add("<h2>Lineage</h2><div class=\"grid\">")
    depths = data.lineage_depths(connection)
    page.add(page.chart(bar_chart("Lineage depth of retries", "lineage_depth (copies from the root course)",
                                  "retries", [d for d, _ in depths], [n for _, n in depths])))
    quality = data.chain_quality(connection)
    page.add(_table(
        [("lineage chain", ""), ("retries", "num"), ("share of retries", "num")],
        [[name, f"{quality[key]:,}", _percent(data.ratio(quality[key], quality["retries"]))]
         for name, key in (("truncated (longer than the depth limit)", "truncated"), ("cyclic", "cyclic"),
                           ("truncated or cyclic", "truncated_or_cyclic"))],
        "Chains that are truncated or cyclic"))
    bins, under_one = data.log_histogram(connection, "retries", "seconds_since_migration")
    spread = data.quantiles(connection, "retries", "seconds_since_migration")
    if bins and spread is not None:
        note = (f"Median {data.humane_seconds(spread['median'])}, "
                f"90th percentile {data.humane_seconds(spread['p90'])}."
                + (f" {under_one:,} retries under 1 s are not on the log axis." if under_one else ""))
        page.add(page.chart(log_step_histogram("Time from migration to retry", "seconds_since_migration (log scale)",
                                               bins), note))
    else:
        page.add(_none("Time from migration to retry",
                       "No retry has a migration at least one second before it."))
    page.add("</div>")

    page.add("<h2>Attempts</h2><div class=\"grid\">")
    attempts, unlinked = data.attempts_per_assignment(connection)
    if attempts:
        page.add(page.chart(bar_chart("Assignments by number of retries", "retries of the assignment",
                                      "assignments", [n for n, _ in attempts], [a for _, a in attempts]),
                            "An assignment is a (new course, new assignment link). "
                f"{unlinked:,} retries have no "
                            "assignment link (older Canvas events) and are not counted."))
    else:
        page.add(_none("Assignments by number of retries", f"No retry has an assignment link ({unlinked:,} without)."))
    page.add("</div>")


def outcomes_section(page: Page, output: data.Output) -> None:
    """Retry outcomes, or a note when the output has no outcomes table."""
    page.add("<h2>Outcomes</h2>")
    if not output.has_outcomes:
        page.add('<p class="note">This output has no <code>retry_outcomes</code> table: '
            "outcomes are shown once "
                 "the pipeline writes it.</p>")
        return
    connection = output.connection
    shares = data.outcome_shares(connection)
    if not shares:
        page.add('<p class="note">The <code>retry_outcomes</code> table has no rows yet.</p>')
        return
    page.add('<div class="grid">')
    page.add(page.chart(bar_chart("Outcome of retries", "outcome", "share of retries with an outcome",
                                  [s[0] for s in shares], [s[2] for s in shares], percent=True),
                        ", ".join(f"{name}: {count:,}" for name, count, _ in shares)))
    bins, under_one = data.log_histogram(connection, "retry_outcomes", "seconds_to_outcome")
    if bins:
        page.add(page.chart(log_step_histogram("Time from retry to outcome", "seconds_to_outcome (log scale)", bins),
                            f" {under_one:,} outcomes under 1 s are not on the log axis." if under_one else ""))
    else:
        page.add(_none("Time from retry to outcome", "No outcome was decided by a state event at least 1 s later."))
    rows = [[row.course, f"{row.outcomes:,}", f"{row.succeeded:,}", f"{row.success_rate:.1%}"]
            for row in data.success_by_source(connection)]
    page.add(_table([("source course uuid", "id"), ("outcomes", "num"), ("succeeded", "num"), ("success rate", "num")],
                    rows, "Success rate by source course"))
    page.add("</div>")


def quality_section(page: Page, output: data.Output, figures: dict) -> None:
    """Dead letters by reason, input file and day, and the retries' data quality."""
    connection = output.connection
    page.add("<h2>Data quality</h2><div class=\"grid\">")
    codes = data.dead_letters_by_code(output.summary)
    if codes:
        page.add(page.chart(bar_chart("Dead letters by reason", "error_code", "dead letters",
                                      [c for c, _ in codes], [n for _, n in codes], colour="#c62828")))
        if output.kind == data.UNDATED:
            files = data.dead_letters_by_file(connection)
            page.add(page.chart(bar_chart("Dead letters by input file", "dead letters", "input file",
                                          [f for f, _ in files], [n for _, n in files], horizontal=True,
                                          colour="#c62828", file_labels=True),
                                "An undated output is one run: "
                    "dated and streaming outputs show dead letters per "
                                "ingest day or hour."))
        else:
            over_time = data.dead_letters_over_time(output.periods, output.kind)
            x_title = "ingest date" if output.kind == data.DATED else "summary written (UTC hour)"
            page.add(page.chart(stacked_bars("Dead letters over time, by reason", x_title, "dead letters", over_time)))
    else:
        page.add(_none("Dead letters", "No line was dead-lettered."))
    page.add(_none("Identity conflicts",
                   f"{figures['identity_conflicts']:,} LTI context id(s) claimed by more than one course "
                   "(they resolve to no parent)."))
    skipped = data.top_skipped(output.summary)
    if skipped:
        page.add(page.chart(bar_chart(f"Skipped events, top {len(skipped)} by name", "lines skipped",
                                      "event name", [s for s, _ in skipped], [n for _, n in skipped],
                                      horizontal=True, colour="#607d8b"),
                            f"{output.summary.get('skipped', 0):,} lines skipped in all (events this job "
                            "does not use)."))
    else:
        page.add(_none("Skipped events", "No line was skipped."))
    page.add("</div>")


def build_page(output: data.Output, generated_at: dt.datetime | None = None) -> tuple[str, dict]:
    """(the page's HTML, its headline figures)."""
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    figures = data.headline(output.connection, output.summary)
    page = Page()
    page.add(f"<h1>Retry lineage report</h1><p class=\"meta\">{html.escape(output.path)} · "
             f"{html.escape(_kind_line(output))} · generated {generated_at:%Y-%m-%d %H:%M} UTC</p>")
    if output.empty:
        page.add('<div class="notice"><strong>Nothing yet.</strong> '
            "This output holds no rows: no retries, no "
                 "lineage edges, no dead letters. The figures below are the run summary's.</div>")
        headline_section(page, figures, output)
    else:
        headline_section(page, figures, output)
        if figures["retries"]:
            retries_sections(page, output.connection)
        else:
            page.add("<h2>Retries</h2>" + _none("Retries", "No retry yet: the retries table has no rows."))
        outcomes_section(page, output)
        quality_section(page, output, figures)
    page.add("<footer>Made by <code>retry-lineage report</code> "
        "from the output's tables and run summaries. "
             "It shows only analytic columns: never the raw bytes of dead letters, never actor HMACs. "
             "Times are UTC.</footer>")
    return page.render("Retry lineage report"), figures


def headline_line(figures: dict) -> str:
    """The one-line summary ``retry-lineage report`` prints."""
    check = {True: "passed", False: "FAILED", None: "not recorded"}[figures["balanced"]]
    return (f"{figures['lines_read']:,} lines read, {figures['retries']:,} retries in "
            f"{figures['courses_retried']:,} courses ({_percent(figures['matched_share'])} matched), "
            f"{figures['dead_lettered']:,} dead letters ({_percent(figures['dead_letter_rate'])}), "
            f"balance check {check}")
