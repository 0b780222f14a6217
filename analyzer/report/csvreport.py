"""CSV: one file per table.

`-o DIR` writes captures.csv, sessions.csv, sockets.csv, findings.csv, events.csv and
diagnostics.csv into DIR (created when missing); `-o NAME.csv` and standard output carry
the sessions table alone, the one most spreadsheets want. Multi-line cells (evidence) stay
one quoted cell; line ends are "\\n" on every platform so output is byte-identical.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analyzer.report.tables import ReportTables


def table_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


def sessions_csv(tables: ReportTables) -> str:
    return table_csv(tables.sessions)


def wants_single_file(output: str) -> bool:
    """`-o x.csv` means the sessions table in that file; anything else is a directory."""
    return output.lower().endswith(".csv")


def write_csv_dir(tables: ReportTables, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.named().items():
        path = directory / f"{name}.csv"
        path.write_text(table_csv(frame), encoding="utf-8", newline="")
        written.append(path)
    return written
