"""`sioscope report`: arguments and execution (the CLI delegates here)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from analyzer.model import Analysis
from analyzer.report.jsonreport import render_json

FORMATS = ("json",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", help="pcap, pcapng or HAR files")
    parser.add_argument("--format", choices=FORMATS, default="json")
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")


def run(args: argparse.Namespace, load: Callable[[str], Analysis]) -> int:
    analyses = [load(path) for path in args.files]
    text = render_json(analyses)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
