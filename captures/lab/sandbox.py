"""The I/O side of the lab: a network namespace, tcpdump, peer processes, nft faults.

Everything is started and stopped by pid; ``Sandbox`` is a context manager whose exit
stops every process, deletes the nft table and the namespace, also after errors and
timeouts.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from captures.lab.scenario import JsonDict

NODE_DIR = Path(__file__).resolve().parent / "node"
NFT_TABLE = "sio_lab"
TCPDUMP_READY_S = 10.0


class LabError(Exception):
    """A scenario could not be run (missing tool, peer not ready, time limit)."""


class LabTimeout(LabError):
    """The scenario went past its hard time limit."""


@dataclass(slots=True)
class Process:
    """A process the lab started inside the namespace, with its own log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


def run_checked(argv: list[str]) -> None:
    """Run a short setup command; its failure means the lab cannot work here."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    if result.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed: {result.stderr.strip()}")


@dataclass
class Sandbox:
    """One namespace with tcpdump running and the peers of one scenario."""

    netns: str
    port: int
    work_dir: Path
    pcap_path: Path
    deadline: float
    events_path: Path = field(init=False)
    processes: list[Process] = field(default_factory=list)
    lab_notes: list[str] = field(default_factory=list)
    tcpdump: Process | None = None
    started_at: float = 0.0
    ended_at: float = 0.0
    tolerate_dropped_packets: bool = False  # only benchmark captures may have holes
    _network_dropped: bool = False

    def __post_init__(self) -> None:
        self.events_path = self.work_dir / "events.jsonl"

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.events_path.write_text("")
        try:
            run_checked(["ip", "netns", "add", self.netns])
            run_checked(["ip", "netns", "exec", self.netns, "ip", "link", "set", "lo", "up"])
            self._start_tcpdump()
        except BaseException:
            self._teardown()
            raise
        self.started_at = time.time()
        return self

    def __exit__(self, *exc: object) -> None:
        self._teardown()

    def finish_capture(self) -> None:
        """Freeze the peers, then end the capture: later events are outside the truth."""
        for proc in self.processes:
            if proc.alive():
                with suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(0.5)
        self.ended_at = time.time()
        self._stop_tcpdump()

    def _teardown(self) -> None:
        if self.tcpdump is not None:
            self._stop_tcpdump()
        for proc in self.processes:
            _kill_and_reap(proc)
        if self._network_dropped:
            with suppress(LabError):
                self._nft(f"delete table inet {NFT_TABLE}")
        with suppress(LabError):
            run_checked(["ip", "netns", "delete", self.netns])

    def _start_tcpdump(self) -> None:
        # --immediate-mode: without it libpcap hands packets over in blocks that retire only
        # on a timeout, and the packets of the last block are lost when tcpdump is stopped.
        argv = ["tcpdump", "--immediate-mode", "-B", "16384", "-U", "-s", "0", "-n", "-Z", "root"]
        argv += ["-i", "lo"]
        argv += ["-w", str(self.pcap_path), self.capture_filter]
        self.tcpdump = self._popen(argv, "tcpdump", stderr_pipe=True)
        if not _wait_for_line(self.tcpdump.popen.stderr, b"listening on", TCPDUMP_READY_S):
            raise LabError("tcpdump did not start listening")

    def _stop_tcpdump(self) -> None:
        proc, self.tcpdump = self.tcpdump, None
        if proc is None:
            return
        with suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGINT)
        try:
            proc.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _kill_and_reap(proc)
        report = b""
        if proc.popen.stderr is not None:
            with suppress(OSError):
                report = proc.popen.stderr.read()
            proc.popen.stderr.close()
        proc.log_path.write_bytes(report)
        dropped = _dropped_packets(report.decode("utf-8", "replace"))
        if dropped and self.tolerate_dropped_packets:
            self.note(f"tcpdump dropped {dropped} packets (tolerated: a benchmark capture)")
        elif dropped:
            # A capture with holes would teach the analyzer wrong lessons: fail the run.
            raise LabError(f"tcpdump dropped {dropped} packets; run the scenario again")

    @property
    def capture_filter(self) -> str:
        return f"tcp port {self.port}"

    # -- processes ---------------------------------------------------------------------

    def _popen(
        self,
        argv: list[str],
        name: str,
        env: Mapping[str, str] | None = None,
        stderr_pipe: bool = False,
    ) -> Process:
        log_path = self.work_dir / f"{name}.log"
        full_env = {**os.environ, "LAB_EVENTS": str(self.events_path), **(env or {})}
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, *argv],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.PIPE if stderr_pipe else log,
                env=full_env,
                start_new_session=True,
            )
        return Process(name, popen, log_path)

    def spawn(self, argv: list[str], name: str, env: Mapping[str, str] | None = None) -> Process:
        self._check_deadline()
        proc = self._popen(argv, name, env)
        self.processes.append(proc)
        return proc

    def signal(self, proc: Process, sig: signal.Signals) -> None:
        self.note(f"{sig.name} {proc.name} (pid {proc.pid})")
        with suppress(ProcessLookupError):
            os.kill(proc.pid, sig)

    def send_line(self, proc: Process, obj: JsonDict) -> None:
        stdin: IO[bytes] | None = proc.popen.stdin
        if stdin is None or not proc.alive():
            raise LabError(f"{proc.name} is not running")
        stdin.write((json.dumps(obj) + "\n").encode())
        stdin.flush()

    # -- faults --------------------------------------------------------------------------

    def _nft(self, script: str) -> None:
        run_checked(["ip", "netns", "exec", self.netns, "nft", script])

    def drop_network(self) -> None:
        """Drop every packet of the server port on the namespace loopback, both ways."""
        rule = (
            f"table inet {NFT_TABLE} {{ chain drop_port {{ type filter hook input priority 0; "
            f"tcp dport {self.port} drop; tcp sport {self.port} drop; }}; }}"
        )
        self._nft(rule)
        self._network_dropped = True
        self.note(f"network dropped (nft, tcp port {self.port})")

    def restore_network(self) -> None:
        if self._network_dropped:
            self._nft(f"delete table inet {NFT_TABLE}")
            self._network_dropped = False
            self.note("network restored")

    # -- time and events ---------------------------------------------------------------

    def note(self, text: str) -> None:
        self.lab_notes.append(f"lab {time.time():.3f}: {text}")

    def _check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise LabTimeout("scenario exceeded its time limit")

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        if end > self.deadline:
            raise LabTimeout(f"sleeping {seconds} s would pass the time limit")
        time.sleep(max(0.0, end - time.monotonic()))

    def events(self) -> list[JsonDict]:
        return list(read_events(self.events_path))

    def wait_for(self, event: str, count: int, timeout: float, match: JsonDict) -> list[JsonDict]:
        end = min(time.monotonic() + timeout, self.deadline)
        while True:
            found = [e for e in self.events() if e.get("event") == event and _matches(e, match)]
            if len(found) >= count:
                return found
            if time.monotonic() > end:
                raise LabTimeout(f"waited for {count} x {event} {match}, saw {len(found)}")
            time.sleep(0.05)


def read_events(path: Path) -> Iterator[JsonDict]:
    """Parse the JSONL log; a torn last line (process killed mid-write) is skipped."""
    for line in path.read_text().splitlines():
        with suppress(json.JSONDecodeError):
            rec = json.loads(line)
            if isinstance(rec, dict):
                yield rec


def _matches(event: JsonDict, match: JsonDict) -> bool:
    for key, want in match.items():
        have = event.get(key)
        if isinstance(want, (list, tuple, set)):
            if have not in want:
                return False
        elif have != want:
            return False
    return True


def _dropped_packets(report: str) -> int:
    """Packets tcpdump's closing statistics say were dropped (by the kernel or the filter)."""
    total = 0
    for line in report.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].isdigit() and "dropped" in line:
            total += int(words[0])
    return total


def _wait_for_line(stream: IO[bytes] | None, needle: bytes, timeout: float) -> bool:
    if stream is None:
        return False
    end = time.monotonic() + timeout
    seen = b""
    fd = stream.fileno()
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                return False
            seen += chunk
            if needle in seen:
                return True
    return False


def _kill_and_reap(proc: Process) -> None:
    if proc.alive():
        for sig in (signal.SIGKILL, signal.SIGCONT):
            with suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
    with suppress(subprocess.TimeoutExpired):
        proc.popen.wait(timeout=5)
    if proc.popen.stdin is not None:
        with suppress(OSError):
            proc.popen.stdin.close()
