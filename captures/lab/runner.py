"""Run one scenario end to end: sandbox, peers, fault, capture, truth file, manifest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from captures.lab import manifest
from captures.lab.sandbox import NODE_DIR, LabError, Process, Sandbox
from captures.lab.scenario import JsonDict, Peer, Scenario
from captures.lab.scenarios.helpers import json_flags
from captures.lab.truth import CaptureMeta, build_truth, validate

LAB_DIR = Path(__file__).resolve().parent
CAPTURES_DIR = LAB_DIR.parent
REQUIRED_TOOLS = ("ip", "nft", "tcpdump", "node")


@dataclass
class ScenarioContext:
    """The ``LabContext`` a scenario's ``run`` receives; a thin layer over the sandbox."""

    box: Sandbox
    port: int
    url: str

    def node(self, script: str, name: str, **args: Any) -> Process:
        """Start ``node/<script>.js`` with ``--key=<json>`` arguments."""
        argv = ["node", str(NODE_DIR / f"{script}.js"), *json_flags(args)]
        return self.box.spawn(argv, name)

    def spawn(self, argv: list[str], name: str, env: Mapping[str, str] | None = None) -> Process:
        return self.box.spawn(argv, name, env)

    def send(self, target: Peer, cmd: str, /, **fields: Any) -> None:
        self.box.note(f"command {cmd} {fields} -> {target.name}")
        self.box.send_line(_process(target), {"cmd": cmd, **fields})

    def kill(self, peer: Peer) -> None:
        self.box.signal(_process(peer), signal.SIGKILL)

    def stop(self, peer: Peer) -> None:
        self.box.signal(_process(peer), signal.SIGSTOP)

    def cont(self, peer: Peer) -> None:
        self.box.signal(_process(peer), signal.SIGCONT)

    def drop_network(self) -> None:
        self.box.drop_network()

    def restore_network(self) -> None:
        self.box.restore_network()

    def sleep(self, seconds: float) -> None:
        self.box.sleep(seconds)

    def wait_for(
        self, event: str, *, count: int = 1, timeout: float = 10.0, **match: Any
    ) -> list[JsonDict]:
        return self.box.wait_for(event, count, timeout, match)

    def note(self, text: str) -> None:
        self.box.note(text)

    def work_path(self, name: str) -> Path:
        return self.box.work_dir / name


def _process(peer: Peer) -> Process:
    if not isinstance(peer, Process):
        raise LabError(f"{peer!r} was not started by this lab")
    return peer


def missing_requirements() -> list[str]:
    """Why the lab cannot run here (empty when it can)."""
    problems = [f"{tool} not found" for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if os.geteuid() != 0:
        problems.append("not root (network namespaces and tcpdump need it)")
    if not (LAB_DIR / "node_modules" / "socket.io").is_dir():
        problems.append("node_modules missing: run npm ci in captures/lab")
    return problems


def run_scenario(scenario: Scenario, out_dir: Path, work_root: Path, index: int) -> Path:
    """Capture one scenario into ``out_dir``; return the truth file written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pcap = out_dir / f"{scenario.name}.pcap"
    work = work_root / scenario.name
    shutil.rmtree(work, ignore_errors=True)
    box = Sandbox(
        netns=f"sio-lab-{os.getpid()}-{index}",
        port=scenario.port,
        work_dir=work,
        pcap_path=pcap,
        deadline=time.monotonic() + scenario.time_limit,
        tolerate_dropped_packets=scenario.tolerate_dropped_packets,
    )
    try:
        with box:
            ctx = ScenarioContext(box, scenario.port, f"http://127.0.0.1:{scenario.port}")
            scenario.run(ctx)
            box.finish_capture()
            lab_notes = list(box.lab_notes)  # steps after the capture are not part of it
            scenario.after_capture(ctx)
        keylog = _copy_keylog(scenario, work, out_dir)
        har = _copy_har(scenario, work, out_dir)
    except BaseException:
        pcap.unlink(missing_ok=True)  # a capture without its truth must not be left behind
        for suffix in (".keys", ".har"):
            (out_dir / f"{scenario.name}{suffix}").unlink(missing_ok=True)
        raise
    meta = CaptureMeta(
        file=pcap.name,
        server=f"127.0.0.1:{scenario.port}",
        filter=box.capture_filter,
        started_at=round(box.started_at, 3),
        ended_at=round(box.ended_at, 3),
        tls_keylog=keylog,
        har=har,
    )
    truth = build_truth(box.events(), scenario, meta, lab_notes)
    validate(truth)
    truth_path = out_dir / f"{scenario.name}.truth.json"
    truth_path.write_text(json.dumps(truth, indent=2) + "\n")
    manifest.update(out_dir / "manifest.json", truth)
    return truth_path


def _copy_keylog(scenario: Scenario, work: Path, out_dir: Path) -> str | None:
    """Put the run's TLS key log beside its capture, so tools can decrypt it."""
    return _copy_beside(scenario.tls_keylog, "TLS key log", work, out_dir / f"{scenario.name}.keys")


def _copy_har(scenario: Scenario, work: Path, out_dir: Path) -> str | None:
    """Put the HAR a browser recorded during the run beside its capture."""
    return _copy_beside(scenario.har, "HAR", work, out_dir / f"{scenario.name}.har")


def _copy_beside(work_name: str | None, what: str, work: Path, target: Path) -> str | None:
    """Copy a file the run wrote into its work directory to ``target``; a scenario that
    declares one and did not write it failed."""
    if work_name is None:
        return None
    source = work / work_name
    if not source.is_file() or source.stat().st_size == 0:
        raise LabError(f"no {what} was written to {work_name}")
    shutil.copyfile(source, target)
    return target.name
