"""Instruction counts of sioscope's two kinds of process, for A/B comparisons of code changes.

Not a test (never collected). Wall and CPU times on a shared machine drift by a fifth
within minutes, which hides changes of a few per cent; callgrind's instruction counts do
not depend on what else runs. Repeated runs of the same code agree within about half a
per cent (the hash seed is fixed, but object addresses, which some hashes use, vary).
They are not seconds (a cache miss counts as one instruction), so the benchmark stays the
measure of speed; this tells which of two versions of the code does less work.

    python -m tests.perf.instructions captures/lab/out/load-small.pcap

prints the instructions of one decoding worker (shard 1 of 2, run in one process with its
output pickled and dropped) and of the main process of a run with workers (the workers
themselves run natively, outside callgrind). Under callgrind Python runs about fifty times
slower: use a capture of about 100 k packets (`python -m captures.lab.scenarios.load
load-small`). Needs valgrind. `--compiled` counts a compiled copy of the analyzer (built
first, as `pip install .` builds it) instead of this checkout's Python sources.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.perf.compiled import build_compiled_copy, env_for_copy

_COLLECTED = re.compile(r"Collected : (\d+)")


def _callgrind(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> int:
    """Instructions executed by `argv` (its own process only, not its children)."""
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={os.devnull}", *argv]
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        sys.exit(f"callgrind run failed ({done.returncode}): {done.stderr[-2000:]}")
    return int(found.group(1))


def _run_worker(capture: str) -> int:
    """Decode shard 1 of 2 as a worker does; its batches are pickled, counted and dropped."""
    from analyzer.core import relaxed_gc
    from analyzer.parallel import _Settings, _work

    batches = 0

    class Discard:
        def send_bytes(self, data: object) -> None:
            nonlocal batches
            batches += 1

        def send(self, message: object) -> None:
            pass

        def close(self) -> None:
            pass

    settings = _Settings(capture, 0, 2, {}, None, None, False)
    with relaxed_gc():
        _work(settings, Discard())  # type: ignore[arg-type]
    return batches


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--compiled", action="store_true", help="count a compiled copy")
    args = parser.parse_args(argv)
    if args.worker:
        _run_worker(str(args.capture))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    if not args.compiled:
        _count(args.capture.resolve(), None)
        return
    with tempfile.TemporaryDirectory(prefix="sioscope-compiled-") as scratch:
        _count(args.capture.resolve(), build_compiled_copy(Path(scratch)))


def _count(capture: Path, copy: Path | None) -> None:
    """Both counts, run in `copy` (its compiled analyzer first on the path) if given."""
    # A fixed hash seed: with a random one, dict and set layouts (and so the counts) vary.
    settings = {"SIOSCOPE_PARALLEL": "1", "SIOSCOPE_SLOW_PATH": "0", "PYTHONHASHSEED": "0"}
    env = {**os.environ, **settings} if copy is None else env_for_copy(**settings)
    python = sys.executable
    worker = _callgrind(
        [python, "-m", "tests.perf.instructions", "--worker", str(capture)], env, copy
    )
    with tempfile.TemporaryDirectory() as scratch:
        report = str(Path(scratch) / "report.json")
        cli = [python, "-m", "analyzer.cli", "report", str(capture), "--format", "json"]
        parent = _callgrind([*cli, "-o", report], env, copy)
    print(f"capture {capture} ({'compiled copy' if copy else 'Python sources'})")
    print(f"worker (shard 1 of 2): {worker:,} instructions")
    print(f"main process with workers: {parent:,} instructions")


if __name__ == "__main__":
    main()
