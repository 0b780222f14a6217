"""Command line: ``python -m captures.lab [run] [NAME ...] [--list] [--out DIR]``."""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from captures.lab.runner import CAPTURES_DIR, LAB_DIR, missing_requirements, run_scenario
from captures.lab.sandbox import LabError
from captures.lab.scenarios import SCENARIOS, by_name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m captures.lab", description=__doc__)
    parser.add_argument("names", nargs="*", help="scenarios to run (all when none; 'run' ignored)")
    parser.add_argument("--list", action="store_true", help="list scenarios and exit")
    parser.add_argument("--out", type=Path, default=CAPTURES_DIR, help="where captures go")
    parser.add_argument("--work", type=Path, default=LAB_DIR / "work", help="event logs, peer logs")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = [n for n in args.names if n != "run"]
    if args.list:
        for scenario in SCENARIOS:
            print(
                f"{scenario.name:28} {scenario.family:10} {scenario.root_cause:18} "
                f"{scenario.description}"
            )
        return 0
    problems = missing_requirements()
    if problems:
        print("lab cannot run: " + "; ".join(problems), file=sys.stderr)
        return 2
    try:
        chosen = [by_name(n) for n in names] if names else list(SCENARIOS)
    except KeyError as err:
        print(f"unknown scenario {err}", file=sys.stderr)
        return 2
    failed = 0
    for index, scenario in enumerate(chosen):
        try:
            path = run_scenario(scenario, args.out, args.work, index)
            print(f"ok     {scenario.name}: {path.name}")
        except LabError as err:
            failed += 1
            print(f"FAILED {scenario.name}: {err}", file=sys.stderr)
        except Exception:  # a bug in one scenario must not stop the others
            failed += 1
            print(f"FAILED {scenario.name} (bug):", file=sys.stderr)
            traceback.print_exc()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
