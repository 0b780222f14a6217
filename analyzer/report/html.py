"""The HTML report: one self-contained file (inline CSS, JS and SVG; it fetches nothing).

Top to bottom: the gate verdict and counts, causes at a glance, histograms of session
lifetime and of the idle gap before each close, findings, the sessions to look at first
with their timelines, then every session in a filterable table that expands to its
timeline and evidence.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

import pandas as pd

from analyzer import __version__
from analyzer.reasons import UNCLASSIFIED
from analyzer.report import cells
from analyzer.report.gates import GateResult, session_causes, worst_sessions
from analyzer.report.htmlassets import CSS, JS
from analyzer.report.htmlparts import (
    evidence,
    facts,
    layer_key,
    pill,
    reason,
    select,
    short_list,
    socket_table,
)
from analyzer.report.svg import (
    IDLE_EDGES,
    LIFETIME_EDGES,
    cause_color,
    cause_strip,
    histogram,
    span_bar,
)
from analyzer.report.tables import ReportTables
from analyzer.report.timeline_svg import timeline_svg

LOOK_FIRST = 5
MAX_TIMELINES = 300  # detail timelines drawn in the table; beyond, the file would grow too big
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
Key = tuple[str, str]


def render_html(tables: ReportTables, result: GateResult) -> str:
    page = _Page(tables, result)
    body = "".join(
        [
            page.cards(),
            page.gates(),
            page.causes(),
            page.histograms(),
            page.findings(),
            page.look_first(),
            page.session_table(),
            page.diagnostics(),
        ]
    )
    title = "sioscope report — " + ", ".join(str(c) for c in tables.captures["capture"])
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>sioscope report</h1><div class="sub">{escape(page.subtitle())}</div>'
        f"</header><main>{body}</main><script>{JS}</script></body></html>\n"
    )


class _Page:
    """The tables, indexed once, and one method per section."""

    def __init__(self, tables: ReportTables, result: GateResult) -> None:
        self.t = tables
        self.result = result
        self.events = {
            (str(k[0]), str(k[1])): cells.records(g)
            for k, g in tables.events.groupby(["capture", "sid"], sort=False)
        }
        self.sockets = {
            (str(k[0]), str(k[1])): cells.records(g)
            for k, g in tables.sockets.groupby(["capture", "sid"], sort=False)
        }
        captures = tables.captures.set_index("capture")
        self.origin = {str(c): cells.real(v) for c, v in captures["first_ts"].items()}
        self.finish = {str(c): cells.real(v) for c, v in captures["last_ts"].items()}
        self.worst = worst_sessions(tables, result, MAX_TIMELINES)
        self.drawn = self._drawn_keys()

    def _drawn_keys(self) -> set[Key]:
        keys = list(_keys(self.worst))
        keys += [k for k in _keys(self.t.sessions) if k not in set(keys)]
        return set(keys[:MAX_TIMELINES])

    def subtitle(self) -> str:
        s = self.t.sessions
        return f"{len(self.t.captures)} capture(s) · {len(s)} sessions · sioscope {__version__}"

    def cards(self) -> str:
        s = self.t.sessions
        items = [
            (str(len(s)), "sessions", ""),
            (str(len(self.t.sockets)), "sockets", ""),
            (str(int(s["open_at_end"].sum())), "open at capture end", ""),
            (str(len(self.t.findings)), "findings", "bad" if len(self.t.findings) else ""),
            (str(len(self.t.diagnostics)), "diagnostics", ""),
        ]
        if self.result.gates.active:
            tripped = self.result.tripped
            items.append(("FAIL" if tripped else "PASS", "gates", "bad" if tripped else "good"))
        return (
            '<section class="cards">'
            + "".join(
                f'<div class="card {cls}"><b>{escape(value)}</b><span>{escape(label)}</span></div>'
                for value, label, cls in items
            )
            + "</section>"
        )

    def gates(self) -> str:
        if not self.result.gates.active:
            return ""
        lines = []
        if self.result.gates.fail_on:
            terms = ", ".join(self.result.gates.fail_on)
            n = len(self.result.failing)
            cls = ' class="tripped"' if n else ""
            matched = cells.plural(n, "session")
            lines.append(f"<li{cls}>--fail-on {escape(terms)} matched {matched}</li>")
        for check in self.result.shares:
            cls = ' class="tripped"' if check.tripped else ""
            lines.append(f"<li{cls}>--max-share {escape(check.describe())}</li>")
        return f'<section class="gates"><h2>Gates</h2><ul>{"".join(lines)}</ul></section>'

    def causes(self) -> str:
        counts = session_causes(self.t.sessions).value_counts().sort_index(kind="stable")
        counts = counts.sort_values(ascending=False, kind="stable")
        if counts.empty:
            return (
                '<section><h2>Causes</h2><p class="none">No Engine.IO session found.</p></section>'
            )
        pairs = [(str(c), int(n)) for c, n in counts.items()]
        total = sum(n for _, n in pairs)
        legend = "".join(
            f'<span><i style="background:{cause_color(c)}"></i>{escape(c)} <b>{n}</b> '
            f'<span class="none">({cells.percent(n / total)})</span></span>'
            for c, n in pairs
        )
        return (
            f"<section><h2>Why sessions ended</h2>{cause_strip(pairs)}"
            f'<div class="legend">{legend}</div></section>'
        )

    def histograms(self) -> str:
        s = self.t.sessions
        lifetimes = [float(v) for v in s["duration_s"].dropna()]
        idle = [float(v) for v in s["idle_before_close_s"].dropna()]
        return (
            '<section><h2>Distributions</h2><div class="hists">'
            + histogram(
                lifetimes,
                LIFETIME_EDGES,
                "Session lifetime",
                f"{len(lifetimes)} sessions · open ones until their last packet",
            )
            + histogram(
                idle,
                IDLE_EDGES,
                "Idle gap before each close",
                f"{len(idle)} closed sessions · a spike = an idle timeout",
            )
            + "</div></section>"
        )

    def findings(self) -> str:
        f = self.t.findings
        if f.empty:
            return ""
        rows = "".join(
            f"<tr><td>{pill(r['kind'])}</td><td>{cells.text(r['count'])}</td>"
            f'<td class="mono">{escape(cells.text(r["capture"]))}</td>'
            f'<td class="mono">{escape(short_list(cells.text(r["sessions"], "").split()))}</td>'
            f"<td>{evidence(cells.lines(r['evidence']))}</td></tr>"
            for r in cells.records(f)
        )
        return (
            "<section><h2>Findings</h2><table><thead><tr><th>kind</th><th>count</th>"
            "<th>capture</th><th>sessions</th><th>evidence</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></section>"
        )

    def look_first(self) -> str:
        worst = cells.records(self.worst.head(LOOK_FIRST))
        if not worst:
            return ""
        blocks = []
        for s in worst:
            key = (str(s["capture"]), str(s["sid"]))
            color = cause_color(cells.text(s["cause"], UNCLASSIFIED))
            blocks.append(
                f'<div class="look" style="border-color:{color}"><h3><code>'
                f"{escape(key[1])}</code> {pill(s['cause'])}{self._fail_tag(key)}</h3>"
                f"{facts(s)}{evidence(cells.lines(s['evidence']))}"
                f"{timeline_svg(s, self.events.get(key, []), self.finish.get(key[0]))}</div>"
            )
        return (
            "<section><h2>Sessions to look at first</h2>"
            + "".join(blocks)
            + layer_key()
            + "</section>"
        )

    def session_table(self) -> str:
        s = self.t.sessions
        several = len(self.t.captures) > 1
        head = "".join(
            f'<th data-key="{k}" data-num="{int(n)}">{escape(label)}</th>'
            for k, label, n in _columns(several)
        )
        body = "".join(self._row(i, r, several) for i, r in enumerate(cells.records(s)))
        return (
            f'<section id="all-sessions"><h2>Sessions</h2>{self._filters(several)}'
            f'<div class="wrap"><table id="sessions"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div></section>"
        )

    def _filters(self, several: bool) -> str:
        causes = sorted(set(session_causes(self.t.sessions)))
        reasons = sorted(_all_reasons(self.t))
        parts = [
            '<div class="filters"><input type="search" id="f-text" '
            'placeholder="filter: sid, address, reason, evidence…">',
            select("f-cause", "any cause", causes),
            select("f-reason", "any reason", reasons),
        ]
        if several:
            parts.append(select("f-capture", "any capture", list(self.t.captures["capture"])))
        if self.result.gates.fail_on:
            parts.append('<label><input type="checkbox" id="f-fail"> failing only</label>')
        parts.append(
            '<label><input type="checkbox" id="f-open"> hide open at capture end</label>'
            '<span class="shown" id="shown"></span></div>'
        )
        return "".join(parts)

    def _row(self, i: int, s: cells.Row, several: bool) -> str:
        key = (str(s["capture"]), str(s["sid"]))
        cause = cells.text(s["cause"], UNCLASSIFIED)
        reasons = _reasons_of(s, self.sockets.get(key, []))
        failing = self.result.is_failing(*key)
        text = " ".join(
            [
                *key,
                cells.text(s["client"], ""),
                cells.text(s["server"], ""),
                cause,
                *reasons,
                cells.text(s["evidence"], ""),
            ]
        ).lower()
        origin = self.origin.get(key[0]) or cells.real(s["opened_at"]) or 0.0
        opened = (cells.real(s["opened_at"]) or origin) - origin
        data = {
            "i": str(i),
            "capture": key[0],
            "cause": cause,
            "reasons": "|".join(reasons),
            "fail": "1" if failing else "0",
            "open": "1" if s["open_at_end"] else "0",
            "text": text,
            "sid": key[1],
            "client": cells.text(s["client"], ""),
            "opened": f"{opened:.6f}",
            "duration": cells.text(s["duration_s"], ""),
            "server_reason": cells.text(s["server_reason"], ""),
            "client_reason": cells.text(s["client_reason"], ""),
            "conf": cells.text(s["confidence"], ""),
            "transports": cells.text(s["transports"]),
        }
        attrs = " ".join(f'data-{k}="{escape(v)}"' for k, v in data.items())
        cls = "row fail" if failing else "row"
        capture_cell = f'<td class="mono">{escape(key[0])}</td>' if several else ""
        cells_html = (
            f'<td class="mono">{escape(key[1])}{self._fail_tag(key)}</td>{capture_cell}'
            f'<td class="mono">{escape(cells.text(s["client"]))}</td>'
            f"<td>{escape(cells.text(s['transports']).replace(',', ' → '))}</td>"
            f'<td class="n">+{opened:.3f} s</td><td class="n">'
            f"{escape(cells.duration(s['duration_s']))}{' …' if s['open_at_end'] else ''}</td>"
            f"<td>{reason(s['server_reason'])}</td><td>{reason(s['client_reason'])}</td>"
            f'<td>{pill(s["cause"])}</td><td class="n">{cells.real(s["confidence"]) or 0:.2f}</td>'
            f"<td>{self._span(key, s, cause)}</td>"
        )
        return (
            f'<tr class="{cls}" {attrs}>{cells_html}</tr>'
            f'<tr class="detail" id="d-{i}" hidden><td colspan="{11 if several else 10}">'
            f"{self._detail(key, s)}</td></tr>"
        )

    def _span(self, key: Key, s: cells.Row, cause: str) -> str:
        start = cells.real(s["opened_at"]) or 0.0
        end = cells.real(s["closed_at"]) or cells.real(s["last_seen_at"]) or start
        origin = self.origin.get(key[0]) or start
        finish = self.finish.get(key[0]) or end
        return span_bar(start, end, origin, finish, cause_color(cause), bool(s["open_at_end"]))

    def _detail(self, key: Key, s: cells.Row) -> str:
        if key in self.drawn:
            picture = timeline_svg(s, self.events.get(key, []), self.finish.get(key[0]))
        else:
            picture = (
                f'<p class="none">Timeline not drawn (only {MAX_TIMELINES} per report): '
                f"<code>sioscope timeline {escape(key[0])} --sid {escape(key[1])}</code></p>"
            )
        return (
            facts(s)
            + evidence(cells.lines(s["evidence"]))
            + picture
            + socket_table(self.sockets.get(key, []))
        )

    def _fail_tag(self, key: Key) -> str:
        return '<span class="fail-tag">FAIL</span>' if self.result.is_failing(*key) else ""

    def diagnostics(self) -> str:
        d = self.t.diagnostics
        if d.empty:
            return ""
        rows = "".join(
            f'<tr><td class="mono">{escape(cells.text(r["code"]))}</td>'
            f"<td>{escape(cells.text(r['severity']))}</td>"
            f'<td class="mono">{escape(cells.text(r["where"]))}</td>'
            f"<td>{escape(cells.text(r['message']))}</td></tr>"
            for r in cells.records(d.head(500))
        )
        more = (
            f'<p class="none">… {len(d) - 500} more in the JSON report.</p>' if len(d) > 500 else ""
        )
        return (
            f"<section><details><summary>Diagnostics ({len(d)})</summary><table><thead><tr>"
            "<th>code</th><th>severity</th><th>where</th><th>message</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{more}</details></section>"
        )


def _keys(frame: pd.DataFrame) -> Iterable[Key]:
    return zip(frame["capture"].astype(str), frame["sid"].astype(str), strict=True)


def _columns(several: bool) -> list[tuple[str, str, bool]]:
    cols = [
        ("sid", "sid", False),
        ("capture", "capture", False),
        ("client", "client", False),
        ("transports", "transports", False),
        ("opened", "opened", True),
        ("duration", "lasted", True),
        ("server_reason", "server reason", False),
        ("client_reason", "client reason", False),
        ("cause", "cause", False),
        ("conf", "conf.", True),
        ("opened", "in capture", True),
    ]
    return [c for c in cols if several or c[0] != "capture"]


def _reasons_of(s: cells.Row, sockets: list[cells.Row]) -> list[str]:
    values = [s["server_reason"], s["client_reason"]]
    values += [r[c] for r in sockets for c in ("server_reason", "client_reason")]
    return sorted({str(v) for v in values if not cells.missing(v)})


def _all_reasons(tables: ReportTables) -> set[str]:
    found: set[str] = set()
    for frame in (tables.sessions, tables.sockets):
        for column in ("server_reason", "client_reason"):
            found.update(str(v) for v in frame[column].dropna())
    return found
