"""Markdown for a CI job summary: verdict first, then counts, findings and the worst sessions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from analyzer.reasons import UNCLASSIFIED
from analyzer.report import cells
from analyzer.report.gates import GateResult, session_causes, worst_sessions
from analyzer.report.tables import ReportTables

WORST_SESSIONS = 10
MAX_EVIDENCE = 5


def render_markdown(tables: ReportTables, result: GateResult) -> str:
    parts = [
        _headline(tables, result),
        _captures(tables),
        _gates(result),
        _by_cause(tables),
        _by_reason(tables),
        _findings(tables),
        _worst(tables, result),
        _diagnostics(tables),
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def md(value: object) -> str:
    """A table-cell-safe string: pipes escaped, newlines as <br>."""
    return cells.text(value).replace("|", "\\|").replace("\n", "<br>")


def code(value: object) -> str:
    raw = cells.text(value)
    if raw == cells.MISSING:
        return raw
    return "`" + raw.replace("`", "'").replace("|", "\\|") + "`"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def _headline(tables: ReportTables, result: GateResult) -> str:
    if not result.gates.active:
        status = "no gates set"
    elif result.tripped:
        status = "❌ gate tripped"
    else:
        status = "✅ gates passed"
    s = tables.sessions
    counts = " · ".join(
        [
            cells.plural(len(tables.captures), "capture"),
            cells.plural(len(s), "session")
            + f" ({int(s['open_at_end'].sum())} open at capture end)",
            cells.plural(len(tables.sockets), "socket"),
            cells.plural(len(tables.findings), "finding"),
            cells.plural(len(tables.diagnostics), "diagnostic"),
        ]
    )
    return f"## sioscope report — {status}\n\n{counts}"


def _captures(tables: ReportTables) -> str:
    rows = [
        [
            code(c["capture"]),
            cells.text(c["format"]),
            cells.text(c["packets"]),
            cells.text(c["sessions"]),
            str(_open_count(tables.sessions, c["capture"])),
            cells.text(c["findings"]),
            cells.text(c["diagnostics"]),
            "yes" if c["truncated"] else "no",
        ]
        for c in cells.records(tables.captures)
    ]
    header = [
        "capture",
        "format",
        "packets",
        "sessions",
        "open at end",
        "findings",
        "diagnostics",
        "truncated",
    ]
    return table(header, rows)


def _open_count(sessions: pd.DataFrame, capture: str) -> int:
    return int(sessions.loc[sessions["capture"] == capture, "open_at_end"].sum())


def _gates(result: GateResult) -> str:
    if not result.gates.active:
        return ""
    lines = ["### Gates"]
    if result.gates.fail_on:
        mark = "❌" if result.failing else "✅"
        terms = ", ".join(code(t) for t in result.gates.fail_on)
        n = cells.plural(len(result.failing), "session")
        lines.append(f"- {mark} `--fail-on` {terms} matched {n}")
    for check in result.shares:
        lines.append(f"- {'❌' if check.tripped else '✅'} `--max-share` {check.describe()}")
    return "\n".join(lines)


def _by_cause(tables: ReportTables) -> str:
    causes = session_causes(tables.sessions)
    if causes.empty:
        return "### Sessions by cause\n\nNo Engine.IO session was found."
    counts = causes.value_counts().sort_index(kind="stable")
    counts = counts.sort_values(ascending=False, kind="stable")
    total = len(causes)
    rows = [[code(cause), str(n), cells.percent(n / total)] for cause, n in counts.items()]
    return "### Sessions by cause\n\n" + table(["cause", "sessions", "share"], rows)


def _by_reason(tables: ReportTables) -> str:
    columns = {
        "engine.io server": tables.sessions["server_reason"],
        "engine.io client": tables.sessions["client_reason"],
        "socket.io server": tables.sockets["server_reason"],
        "socket.io client": tables.sockets["client_reason"],
    }
    counts = {name: col.dropna().value_counts() for name, col in columns.items()}
    reasons = sorted({r for c in counts.values() for r in c.index})
    if not reasons:
        return ""
    rows = [[code(r), *(str(int(c.get(r, 0))) for c in counts.values())] for r in reasons]
    return "### Disconnect reasons\n\n" + table(["reason", *columns], rows)


def _findings(tables: ReportTables) -> str:
    f = tables.findings
    if f.empty:
        return "### Findings\n\nNone."
    rows = []
    for item in cells.records(f):
        evidence = cells.lines(item["evidence"])[:3]
        sids = cells.text(item["sessions"], "").split()
        shown = " ".join(code(s) for s in sids[:5]) + (
            f" +{len(sids) - 5}" if len(sids) > 5 else ""
        )
        rows.append(
            [
                code(item["kind"]),
                cells.text(item["count"]),
                code(item["capture"]),
                shown or cells.MISSING,
                md("\n".join(evidence)),
            ]
        )
    return "### Findings\n\n" + table(["kind", "count", "capture", "sessions", "evidence"], rows)


def _worst(tables: ReportTables, result: GateResult) -> str:
    worst = worst_sessions(tables, result, WORST_SESSIONS)
    if worst.empty:
        return "### Sessions to look at\n\nNone: every session ended normally."
    origin = tables.captures.set_index("capture")["first_ts"]
    blocks = ["### Sessions to look at"]
    for s in cells.records(worst):
        blocks.append(_session_block(s, result, origin.get(s["capture"])))
    return "\n\n".join(blocks)


def _session_block(s: cells.Row, result: GateResult, origin: object) -> str:
    get = s.__getitem__
    failing = result.is_failing(get("capture"), get("sid"))
    title = (
        f"#### {code(get('sid'))} — {code(cells.text(get('cause'), UNCLASSIFIED))} "
        f"(confidence {cells.real(get('confidence')) or 0:.2f})"
        + (" — **FAIL**" if failing else "")
    )
    facts = (
        f"{code(get('capture'))} · {md(get('client'))} → {md(get('server'))} · "
        f"{md(get('transports'))} · opened {cells.offset(get('opened_at'), origin)} · "
        f"lasted {cells.duration(get('duration_s'))}"
        + (" (open at capture end)" if get("open_at_end") else "")
    )
    reasons = (
        f"server reason {code(get('server_reason'))} · client reason {code(get('client_reason'))}"
    )
    evidence = cells.lines(get("evidence"))
    bullets = [f"- {md(line)}" for line in evidence[:MAX_EVIDENCE]]
    if len(evidence) > MAX_EVIDENCE:
        bullets.append(f"- … and {len(evidence) - MAX_EVIDENCE} more")
    return "\n".join([title, "", facts + "  ", reasons, *(["", *bullets] if bullets else [])])


def _diagnostics(tables: ReportTables) -> str:
    d = tables.diagnostics
    if d.empty:
        return ""
    grouped = d.groupby(["code", "severity"], sort=True)
    rows = [
        [
            code(key[0]),
            str(key[1]),
            str(len(group)),
            md(f"{group.iloc[0]['where']}: {group.iloc[0]['message']}"),
        ]
        for key, group in grouped
    ]
    body = table(["code", "severity", "count", "first"], rows)
    return f"<details><summary>Diagnostics ({len(d)})</summary>\n\n{body}\n\n</details>"
