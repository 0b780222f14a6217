"""`sioscope report`: arguments and execution (the CLI delegates here).

Exit codes: 0 written and no gate tripped; 1 a gate tripped (the report is still written);
2 and above come from the CLI for unusable input and usage errors (`SioscopeError`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from analyzer.errors import UsageError
from analyzer.model import Analysis
from analyzer.report.gates import (
    GateResult,
    Gates,
    evaluate,
    parse_fail_on,
    parse_max_share,
    unknown_terms,
)
from analyzer.report.progress import ProgressCallback, file_progress

# The writers and the tables need pandas: they are imported in the functions, once the
# captures are analysed, so its memory is not taken while the decoding workers run.
if TYPE_CHECKING:
    from analyzer.report.tables import ReportTables

FORMATS = ("json", "csv", "md", "junit", "html")
EXIT_OK = 0
EXIT_GATE = 1
REDACT_KEY_ENV = "SIOSCOPE_REDACT_KEY"

Load = Callable[[str], Analysis]
LoadWithProgress = Callable[[str, ProgressCallback | None], Analysis]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", help="pcap, pcapng or HAR files")
    parser.add_argument("--format", choices=FORMATS, default="json")
    parser.add_argument(
        "-o",
        "--output",
        help="write here instead of stdout; csv: a directory gets one file per table, "
        "a NAME.csv path gets the sessions table",
    )
    parser.add_argument(
        "--fail-on",
        action="append",
        default=[],
        metavar="REASON_OR_CAUSE[,...]",
        help="exit 1 when a session or socket ended with one of these reasons or causes",
    )
    parser.add_argument(
        "--max-share",
        action="append",
        default=[],
        metavar="CAUSE=FRACTION",
        help="exit 1 when more than FRACTION (0.05 or 5%%) of all sessions have CAUSE",
    )
    parser.add_argument(
        "--redact",
        action="store_true",
        help="replace addresses, sids, socket ids, auth and payloads by stable pseudonyms "
        f"(keyed by ${REDACT_KEY_ENV} when set)",
    )


def run(
    args: argparse.Namespace,
    load: Load,
    *,
    load_with_progress: LoadWithProgress | None = None,
) -> int:
    """Load every capture, write the report, then apply the gates."""
    gates = Gates(parse_fail_on(args.fail_on), parse_max_share(args.max_share))
    analyses = _load_all(args.files, load, load_with_progress)
    from analyzer.report.redact import redact_analyses

    if args.redact:
        key = os.environ.get(REDACT_KEY_ENV, "").encode()
        analyses = redact_analyses(analyses, key)
    if args.format == "json" and not gates.active:  # read straight off the analyses
        from analyzer.report.jsonreport import render_json

        _write_text(args.output, render_json(analyses))
        return EXIT_OK
    from analyzer.report.tables import build_tables

    tables = build_tables(analyses)
    for term in unknown_terms(tables, gates.fail_on):
        print(f"sioscope: warning: --fail-on {term!r} is no known reason or cause", file=sys.stderr)
    result = evaluate(tables, gates)
    _write(args.format, args.output, analyses, tables, result)
    for line in result.messages():
        print(f"sioscope: gate tripped: {line}", file=sys.stderr)
    return EXIT_GATE if result.tripped else EXIT_OK


def _load_all(
    paths: list[str], load: Load, load_with_progress: LoadWithProgress | None
) -> list[Analysis]:
    with file_progress(sys.stderr, os.environ) as bars:
        analyses = []
        for path in paths:
            callback = bars.callback(path)
            if callback is not None and load_with_progress is not None:
                analyses.append(load_with_progress(path, callback))
            else:
                analyses.append(load(path))
        return analyses


def render(fmt: str, analyses: list[Analysis], tables: ReportTables, result: GateResult) -> str:
    """The report as text, for every format that is one document."""
    from analyzer.report import csvreport, html, jsonreport, junit, markdown

    if fmt == "json":
        gates = _gates_dict(result) if result.gates.active else None
        return jsonreport.render_json(analyses, gates=gates)
    if fmt == "csv":
        return csvreport.sessions_csv(tables)
    if fmt == "md":
        return markdown.render_markdown(tables, result)
    if fmt == "junit":
        return junit.render_junit(tables, result)
    if fmt == "html":
        return html.render_html(tables, result)
    raise UsageError(f"unknown report format {fmt!r}")


def _write(
    fmt: str,
    output: str | None,
    analyses: list[Analysis],
    tables: ReportTables,
    result: GateResult,
) -> None:
    from analyzer.report import csvreport

    if fmt == "csv" and output and not csvreport.wants_single_file(output):
        if Path(output).exists() and not Path(output).is_dir():
            raise UsageError("csv output must be a directory or a NAME.csv file", path=output)
        try:
            csvreport.write_csv_dir(tables, Path(output))
        except OSError as exc:
            raise UsageError(f"cannot write the report: {exc.strerror}", path=output) from None
        return
    _write_text(output, render(fmt, analyses, tables, result))


def _write_text(output: str | None, text: str) -> None:
    if output:
        _write_file(Path(output), text)
    else:
        sys.stdout.write(text)


def _write_file(path: Path, text: str) -> None:
    if path.is_dir():
        raise UsageError("is a directory; give a file name", path=str(path))
    try:
        path.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"cannot write the report: {exc.strerror}", path=str(path)) from None


def _gates_dict(result: GateResult) -> dict[str, object]:
    return {
        "tripped": result.tripped,
        "fail_on": list(result.gates.fail_on),
        "failing_sessions": [{"capture": c, "sid": sid} for c, sid in sorted(result.failing)],
        "max_share": [
            {
                "cause": c.cause,
                "limit": c.limit,
                "sessions": c.sessions,
                "share": round(c.share, 6),
                "tripped": c.tripped,
            }
            for c in result.shares
        ],
    }
