"""Benchmark: sioscope's full analysis against tshark's dissection of the same capture.

Not a test (no ``test_`` prefix, never collected): the figures depend on the machine.
Runs, alternating, ``sioscope report FILE --format json -o /dev/null`` (decode, sessions,
classification and the JSON report) and ``tshark -r FILE -Y websocket -T fields -e
frame.number``, each as a child process, and reads wall time, CPU time (user + system,
including the child's own workers) from ``wait4`` and peak RSS: the larger of ``wait4``'s
and the summed RSS of the child's process tree, sampled every 50 ms. Prints every run,
the medians and the ratios sioscope / tshark.

    python -m tests.perf.benchmark captures/lab/out/load.pcap --rounds 3
    python -m tests.perf.benchmark captures/lab/out/load.pcap captures/lab/out/load-long.pcap

By default sioscope runs as ``pip install .`` installs it, with its hot modules compiled
(setup.py): a compiled copy is built in a temporary directory first (about two minutes).
``--pure`` measures the Python sources of this checkout instead.

Make the capture first with ``python -m captures.lab.scenarios.load load``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.perf.compiled import REPO, BuildFailed, build_compiled_copy

DEFAULT_CAPTURE = Path("captures/lab/out/load.pcap")


@dataclass(frozen=True, slots=True)
class Run:
    tool: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    status: int


def sioscope_argv(
    capture: Path, slow: bool, parallel: bool | None = None
) -> tuple[list[str], dict[str, str]]:
    """The full job; `parallel` None lets sioscope decide (workers for large captures)."""
    argv = [sys.executable, "-m", "analyzer.cli", "report", str(capture.resolve())]
    argv += ["--format", "json", "-o", os.devnull]
    env = dict(os.environ, SIOSCOPE_SLOW_PATH="1" if slow else "0")
    if parallel is not None:
        env["SIOSCOPE_PARALLEL"] = "1" if parallel else "0"
    return argv, env


def tshark_argv(capture: Path) -> list[str]:
    return [
        "tshark",
        "-r",
        str(capture.resolve()),
        "-Y",
        "websocket",
        "-T",
        "fields",
        "-e",
        "frame.number",
    ]


PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants now (0 once it is gone)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/statm") as statm:
                total += int(statm.read().split()[1]) * PAGE
            with open(f"/proc/{current}/task/{current}/children") as children:
                todo += [int(c) for c in children.read().split()]
        except (OSError, ValueError):
            continue
    return total


def _sample_tree(pid: int, peak: list[int], stop: threading.Event) -> None:
    while not stop.wait(0.05):
        peak[0] = max(peak[0], _tree_rss(pid))


def measure(
    tool: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> Run:
    """Run one child to completion: wall clock, its rusage from wait4 (CPU includes its
    reaped workers) and the peak of the summed RSS of its process tree, sampled."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        child = subprocess.Popen(argv, stdout=sink, stderr=subprocess.PIPE, env=env, cwd=cwd)
        peak, stop = [0], threading.Event()
        sampler = threading.Thread(target=_sample_tree, args=(child.pid, peak, stop))
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        stop.set()
        sampler.join()
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        err = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if child.returncode:
        print(f"{tool} exited with {child.returncode}: {err.strip()[-500:]}", file=sys.stderr)
    cpu = usage.ru_utime + usage.ru_stime
    peak_mb = max(usage.ru_maxrss / 1024, peak[0] / 2**20)
    return Run(tool, wall, cpu, peak_mb, child.returncode)


def _line(run: Run, label: str) -> str:
    return (
        f"{label:10} {run.tool:14} wall {run.wall_s:7.2f} s  cpu {run.cpu_s:7.2f} s  "
        f"peak RSS {run.peak_rss_mb:7.1f} MB"
    )


def _median(runs: list[Run], tool: str) -> Run:
    mine = [r for r in runs if r.tool == tool]
    return Run(
        tool,
        statistics.median(r.wall_s for r in mine),
        statistics.median(r.cpu_s for r in mine),
        max(r.peak_rss_mb for r in mine),
        max(r.status for r in mine),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.benchmark")
    parser.add_argument(
        "captures", type=Path, nargs="*", default=[DEFAULT_CAPTURE],
        help="one or more captures; with several, the growth of time and memory is shown",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slow", action="store_true", help="also time the slow path")
    parser.add_argument(
        "--one-process", action="store_true", help="also time the fast path without workers"
    )
    parser.add_argument(
        "--pure", action="store_true", help="time this checkout's Python sources, not compiled"
    )
    args = parser.parse_args(argv)
    missing = [str(c) for c in args.captures if not c.is_file()]
    if missing:
        print(f"no capture at {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.pure:
        return _bench_all(args, REPO)
    with tempfile.TemporaryDirectory(prefix="sioscope-compiled-") as scratch:
        print("building a compiled copy of the analyzer (setup.py) ...", flush=True)
        try:
            copy = build_compiled_copy(Path(scratch))
        except BuildFailed as exc:
            print(f"the compiled build failed (try --pure):\n{exc}", file=sys.stderr)
            return 2
        return _bench_all(args, copy)


def _bench_all(args: argparse.Namespace, root: Path) -> int:
    """Every capture, with sioscope run from `root` (its `analyzer` is the one imported)."""
    print(f"sioscope from {'this checkout' if root == REPO else 'a compiled copy'}: "
          f"{_build_of(root)}")  # fmt: skip
    medians: list[tuple[Path, dict[str, Run]]] = []
    failed = False
    for capture in args.captures:
        runs = _bench(capture, args, root)
        failed = failed or any(r.status for r in runs)
        medians.append((capture, {tool: _median(runs, tool) for tool in dict.fromkeys(
            r.tool for r in runs)}))  # fmt: skip
    if len(medians) > 1:
        _growth(medians)
    return 1 if failed else 0


def _build_of(root: Path) -> str:
    probe = "import analyzer.buildinfo as b; print(b.build_description())"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _bench(capture: Path, args: argparse.Namespace, root: Path) -> list[Run]:
    size_mb = capture.stat().st_size / 1e6
    print(f"capture {capture} ({size_mb:.0f} MB), {os.cpu_count()} CPUs, {args.rounds} rounds")
    tools: list[tuple[str, list[str], dict[str, str] | None]] = [
        ("tshark", tshark_argv(capture), None),
        ("sioscope", *sioscope_argv(capture, slow=False)),
    ]
    if args.one_process:
        tools.append(("sioscope-1proc", *sioscope_argv(capture, slow=False, parallel=False)))
    if args.slow:
        tools.append(("sioscope-slow", *sioscope_argv(capture, slow=True)))
    runs: list[Run] = []
    for round_no in range(1, args.rounds + 1):
        order = tools if round_no % 2 else list(reversed(tools))  # alternate who goes first
        for tool, command, env in order:
            run = measure(tool, command, env, cwd=root)
            runs.append(run)
            print(_line(run, f"round {round_no}"), flush=True)
    base = _median(runs, "tshark")
    print(_line(base, "median"))
    for tool, _, _ in tools[1:]:
        mine = _median(runs, tool)
        print(_line(mine, "median"))
        print(
            f"ratio      {tool}/tshark   wall {mine.wall_s / base.wall_s:.2f}  "
            f"cpu {mine.cpu_s / base.cpu_s:.2f}  peak RSS {mine.peak_rss_mb / base.peak_rss_mb:.2f}"
        )
    return runs


def _growth(medians: list[tuple[Path, dict[str, Run]]]) -> None:
    """How time and peak memory grow from the first capture to each next one."""
    first_path, first = medians[0]
    first_size = first_path.stat().st_size
    for path, runs in medians[1:]:
        size = path.stat().st_size / first_size
        print(f"growth     {path.name} vs {first_path.name}: size x{size:.2f}")
        for tool, run in runs.items():
            base = first[tool]
            print(
                f"           {tool:14} wall x{run.wall_s / base.wall_s:.2f}  "
                f"peak RSS x{run.peak_rss_mb / base.peak_rss_mb:.2f}"
            )


if __name__ == "__main__":
    sys.exit(main())
