"""Small HTML fragments shared by the report's sections."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from analyzer.reasons import UNCLASSIFIED
from analyzer.report import cells
from analyzer.report.svg import LAYER_COLORS, cause_color


def pill(cause: object) -> str:
    name = cells.text(cause, UNCLASSIFIED)
    return f'<span class="pill" style="background:{cause_color(name)}">{escape(name)}</span>'


def reason(value: object) -> str:
    if cells.missing(value):
        return '<span class="none">—</span>'
    return f'<span class="reason">{escape(str(value))}</span>'


def select(ident: str, label: str, options: Iterable[str]) -> str:
    opts = "".join(f'<option value="{escape(o)}">{escape(o)}</option>' for o in options)
    return f'<select id="{ident}"><option value="">{escape(label)}</option>{opts}</select>'


def evidence(lines: list[str]) -> str:
    if not lines:
        return ""
    return '<ul class="evidence">' + "".join(f"<li>{escape(x)}</li>" for x in lines) + "</ul>"


def short_list(items: list[str], limit: int = 6) -> str:
    shown = " ".join(items[:limit])
    return shown + (f" +{len(items) - limit}" if len(items) > limit else "")


def layer_key() -> str:
    return (
        '<div class="layers">'
        + "".join(
            f'<span><i class="dot" style="background:{color}"></i>{layer}</span>'
            for layer, color in LAYER_COLORS.items()
        )
        + "<span>shaded: idle before the close</span></div>"
    )


def facts(s: cells.Row) -> str:
    pairs = [
        ("server", cells.text(s["server"])),
        ("EIO", cells.text(s["eio"])),
        ("ping", f"{cells.text(s['ping_interval_ms'])}/{cells.text(s['ping_timeout_ms'])} ms"),
        ("pings", f"{cells.text(s['pings'])} ({cells.text(s['unanswered_pings'])} unanswered)"),
        ("idle before close", cells.duration(s["idle_before_close_s"])),
        ("server reason", cells.text(s["server_reason"])),
        ("client reason", cells.text(s["client_reason"])),
        ("confidence", f"{cells.real(s['confidence']) or 0:.2f}"),
    ]
    if not cells.missing(s["previous_sid"]):
        pairs.append(("previous sid", cells.text(s["previous_sid"])))
    return (
        '<div class="kv">'
        + " · ".join(f"{escape(k)} <b>{escape(v)}</b>" for k, v in pairs)
        + "</div>"
    )


def socket_table(rows: list[cells.Row]) -> str:
    if not rows:
        return ""
    body = "".join(
        f'<tr><td class="mono">{escape(cells.text(r["nsp"]))}</td>'
        f'<td class="mono">{escape(cells.text(r["id"]))}</td>'
        f"<td>{reason(r['server_reason'])}</td><td>{reason(r['client_reason'])}</td>"
        f"<td>{pill(r['cause'])}</td><td>{escape(cells.text(r['connect_error']))}</td></tr>"
        for r in rows
    )
    return (
        "<table><thead><tr><th>namespace</th><th>socket id</th><th>server reason</th>"
        "<th>client reason</th><th>cause</th><th>connect error</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )
