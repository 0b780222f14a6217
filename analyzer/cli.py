"""Command line: sioscope analyze | timeline | report.

Exit codes: 0 success, 1 a gate tripped, 2 unusable input or bad usage (one line naming
the file and the place), 3 an internal error (a bug; --debug shows the traceback);
130 interrupted, 141 the reader of stdout went away.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.table import Table

from analyzer import __version__
from analyzer.buildinfo import build_description
from analyzer.capture.sniff import sniff_file
from analyzer.core import NS_PER_S, ns_to_s
from analyzer.errors import InputError, SioscopeError, UsageError
from analyzer.explain import explain
from analyzer.limits import Limits, limit_names, limits_from, parse_size
from analyzer.model import Analysis, Session
from analyzer.pipeline import ProgressCallback, analyze
from analyzer.report import command as report_command

EXIT_OK = 0
EXIT_GATE = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a process killed by it
BUNDLED_CAPTURE = "many-clients.pcap"


def bundled_capture() -> str:
    """The small real capture shipped with the package, for a first run."""
    path = resources.files("captures").joinpath(BUNDLED_CAPTURE)
    return str(path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sioscope",
        description="Why did this Socket.IO socket disconnect? Reads pcap, pcapng and HAR files.",
    )
    parser.add_argument(
        "--version", action="version", version=f"sioscope {__version__} ({build_description()})"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    common = _common_options()
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("analyze", parents=[common], help="list the Engine.IO sessions of captures")
    p.add_argument(
        "files", nargs="*", help="pcap, pcapng or HAR files (default: the bundled capture)"
    )

    p = sub.add_parser("timeline", parents=[common], help="print one session's timeline")
    p.add_argument("file")
    p.add_argument("--sid", required=True, help="Engine.IO session id (a unique prefix is enough)")

    p = sub.add_parser(
        "explain", parents=[common], help="tell how one session ended, with its evidence"
    )
    p.add_argument("file")
    p.add_argument("--sid", required=True, help="Engine.IO session id (a unique prefix is enough)")

    p = sub.add_parser(
        "report", parents=[common], help="write a report for CI: json, csv, md, junit, html"
    )
    report_command.add_arguments(p)

    p = sub.add_parser("tui", parents=[common], help="interactive triage in the terminal")
    p.add_argument("file", nargs="?", help="capture to open (default: the bundled capture)")
    return parser


def _common_options() -> argparse.ArgumentParser:
    """Options every subcommand takes after its name: --debug and one flag per limit."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand must not reset a --debug given before it.
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks of internal errors",
    )
    common.add_argument(
        "--keylog",
        metavar="FILE",
        default=None,
        help="TLS key log (SSLKEYLOGFILE, node --tls-keylog) to decrypt HTTPS and wss",
    )
    group = common.add_argument_group("limits (bounds against hostile input; sizes take k/M/G)")
    defaults = Limits()
    for name in limit_names():
        group.add_argument(
            "--limit-" + name.replace("_", "-"),
            dest="limit_" + name,
            type=_size_argument,
            metavar="N",
            help=f"default {getattr(defaults, name)}",
        )
    return common


def _size_argument(text: str) -> int:
    try:
        return parse_size(text)
    except SioscopeError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _limits(args: argparse.Namespace) -> Limits:
    return limits_from({name: getattr(args, "limit_" + name, None) for name in limit_names()})


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every outcome maps to an exit code, never to a bare traceback."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except SioscopeError as exc:
        print(f"sioscope: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `sioscope report x | head`: the reader left, not a bug
        _detach_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as exc:
        return _internal_error(exc, debug=bool(getattr(args, "debug", False)))


def _detach_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


def _internal_error(exc: BaseException, *, debug: bool) -> int:
    """A bug: one line by default, the traceback with --debug."""
    message = " ".join(str(exc).split())[:300]
    hint = "" if debug else " (run with --debug for the traceback)"
    print(f"sioscope: internal error: {type(exc).__name__}: {message}{hint}", file=sys.stderr)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    return EXIT_INTERNAL


def _run(args: argparse.Namespace) -> int:
    load = functools.partial(_load, limits=_limits(args), keylog=args.keylog)
    if args.command == "analyze":
        return _cmd_analyze(args.files, load)
    if args.command == "timeline":
        return _cmd_timeline(load(args.file), args.sid)
    if args.command == "explain":
        return _cmd_explain(load(args.file), args.sid)
    if args.command == "report":
        return report_command.run(args, load, load_with_progress=load)
    if args.command == "tui":
        return _cmd_tui(args.file, load)
    raise UsageError(f"unknown command {args.command}")


def _load(
    path: str,
    progress: ProgressCallback | None = None,
    on_session: Callable[[Session], None] | None = None,
    *,
    limits: Limits | None = None,
    keylog: str | None = None,
) -> Analysis:
    _check_input(path)
    return analyze(path, limits=limits, progress=progress, on_session=on_session, keylog=keylog)


def _check_input(path: str) -> None:
    """Fail fast, with one line, on a path that cannot be a capture."""
    if not Path(path).exists():
        raise InputError("no such file", path=path)
    if Path(path).is_dir():
        raise InputError("is a directory, not a capture file", path=path)
    sniff_file(path)


def _cmd_analyze(files: list[str], load: Callable[[str], Analysis]) -> int:
    console = _console()
    if not files:
        files = [bundled_capture()]
        console.print(f"No file given: analyzing the bundled capture {files[0]}")
    for path in files:
        analysis = load(path)
        console.print(session_table(analysis))
        _print_notes(console, analysis)
    return EXIT_OK


def _console() -> Console:
    """Wide enough for the session table when the output is a file or a pipe."""
    probe = Console()
    return probe if probe.is_terminal else Console(width=200)


def session_table(analysis: Analysis) -> Table:
    info = analysis.info
    table = Table(
        title=f"{info.path} — {len(analysis.sessions)} sessions, {info.packets} packets"
        + (" (TRUNCATED)" if info.truncated else "")
    )
    for column in (
        "sid",
        "client",
        "EIO",
        "transports",
        "opened",
        "duration",
        "namespaces",
        "server reason",
        "client reason",
        "cause",
    ):
        table.add_column(column, overflow="fold", no_wrap=column in ("sid", "client"))
    start = info.first_ts_ns or 0
    for s in analysis.sessions:
        table.add_row(
            s.sid,
            str(s.client) if s.client else "-",
            str(s.eio or "?"),
            "→".join(s.transports),
            f"+{(s.opened_ns - start) / NS_PER_S:.3f}s",
            _duration(s),
            " ".join(sorted({sock.nsp for sock in s.sockets})) or "-",
            s.verdict.server_reason or "-",
            s.verdict.client_reason or "-",
            s.verdict.cause or "-",
        )
    return table


def _duration(s: Session) -> str:
    end = s.closed_ns if s.closed_ns is not None else s.last_seen_ns
    text = f"{(end - s.opened_ns) / NS_PER_S:.3f}s"
    return text + " (open)" if s.open_at_capture_end else text


def _print_notes(console: Console, analysis: Analysis) -> None:
    if analysis.tls_connections and not analysis.sessions:
        console.print(
            f"{analysis.tls_connections} connections are TLS; without a key log (--keylog FILE) "
            "their content cannot be read."
        )
    for finding in analysis.findings:
        first = finding.evidence[0] if finding.evidence else ""
        console.print(f"finding {finding.kind} ×{finding.count}: {first}")
    warnings = [d for d in analysis.diagnostics if d.severity.value != "info"]
    if warnings:
        console.print(
            f"{len(warnings)} diagnostics (see `sioscope report` for all); first: "
            f"{warnings[0].where}: {warnings[0].message}"
        )


def find_session(analysis: Analysis, sid: str) -> Session:
    matches = [s for s in analysis.sessions if s.sid == sid] or [
        s for s in analysis.sessions if s.sid.startswith(sid)
    ]
    if not matches:
        raise UsageError(f"no session with sid {sid!r}", path=analysis.info.path)
    if len(matches) > 1:
        raise UsageError(
            f"sid prefix {sid!r} matches {len(matches)} sessions", path=analysis.info.path
        )
    return matches[0]


def _cmd_timeline(analysis: Analysis, sid: str) -> int:
    session = find_session(analysis, sid)
    console = _console()
    table = Table(title=f"session {session.sid} ({'→'.join(session.transports)})")
    for column in ("time", "+s", "side", "layer", "what"):
        table.add_column(column, overflow="fold", no_wrap=column in ("sid", "client"))
    for ev in session.timeline:
        table.add_row(
            f"{ns_to_s(ev.ts_ns):.6f}",
            f"{(ev.ts_ns - session.opened_ns) / NS_PER_S:+.3f}",
            ev.side.value if ev.side else "-",
            ev.layer.value,
            ev.text,
        )
    console.print(table)
    return EXIT_OK


def _cmd_explain(analysis: Analysis, sid: str) -> int:
    sys.stdout.write(explain(analysis, find_session(analysis, sid)))
    return EXIT_OK


def _cmd_tui(path: str | None, load: Callable[..., Analysis]) -> int:
    # Imported here: the headless core never loads textual unless the TUI is asked for.
    from tui.app import run_tui

    if path is not None:
        _check_input(path)  # before the screen takes over the terminal
    return run_tui(path or bundled_capture(), load)


if __name__ == "__main__":
    sys.exit(main())
