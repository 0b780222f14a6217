"""Load captures for the performance benchmark: hundreds of real clients, churning.

Not part of the reference set: the captures are large (``load`` is about 2 M packets and
300 MB) and are regenerated on demand, never committed. ``SCENARIOS`` is therefore empty
unless ``SIOSCOPE_LAB_LOAD=1`` is set, so ``python -m captures.lab`` with no names never
runs them; the usual way in is this module's own command line, which writes into the
git-ignored ``captures/lab/out/`` by default::

    python -m captures.lab.scenarios.load            # load-small (~120 k packets)
    python -m captures.lab.scenarios.load load       # the big one (~2 M packets)
    python -m captures.lab.scenarios.load load-long  # as `load`, twice as long

Every decision (transports, who leaves, who is kicked, which process dies, what is sent)
comes from a seeded ``random.Random``, so a run is reproducible up to timing.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from captures.lab.scenario import JsonDict, LabContext, Peer, Scenario
from captures.lab.scenarios.helpers import start_clients, start_server

OPT_IN_ENV = "SIOSCOPE_LAB_LOAD"
#: Transports per client process, dealt from shuffled decks of ten (None = polling, then
#: the upgrade): 70 % of the processes end on websocket, 30 % stay on polling.
TRANSPORT_DECK: tuple[list[str] | None, ...] = (
    *([None] * 4),
    *([["websocket"]] * 3),
    *([["polling"]] * 3),
)


@dataclass
class _Fleet:
    """The client processes alive now and the fate of every peer label."""

    rng: random.Random
    peers_per_process: int
    processes: list[tuple[Peer, list[str]]] = field(default_factory=list)
    fates: dict[str, str] = field(default_factory=dict)
    started: int = 0
    deck: list[list[str] | None] = field(default_factory=list)

    def spawn(self, ctx: LabContext) -> None:
        """One more node process with fresh peer labels and a seeded transport choice."""
        number = self.started
        self.started += 1
        labels = [f"p{number}-c{n}" for n in range(self.peers_per_process)]
        if not self.deck:
            self.deck = list(TRANSPORT_DECK)
            self.rng.shuffle(self.deck)
        transports = self.deck.pop()
        opts = {} if transports is None else {"transports": transports}
        proc = start_clients(ctx, f"clients-{number}", labels, **opts)
        self.processes.append((proc, labels))

    def live_labels(self) -> list[tuple[Peer, str]]:
        return [(p, label) for p, labels in self.processes for label in labels
                if label not in self.fates]  # fmt: skip


class Load(Scenario):
    """Many client processes; every tick some peers emit, leave, get kicked or die."""

    name = "load"
    family = "load"
    description = (
        "Hundreds of socket.io 4.8 clients in several node processes (about 70 % on "
        "websocket, 30 % polling-only), short heartbeats, steady emits and churn: clients "
        "disconnect, the server kicks some, whole processes are killed and replaced."
    )
    root_cause = "capture-ended"
    tolerate_dropped_packets = True  # two busy cores: see `Sandbox`
    duration_s: ClassVar[float] = 260.0
    initial_processes: ClassVar[int] = 8
    peers_per_process: ClassVar[int] = 60
    replace_every_s: ClassVar[float] = 12.0
    ping_interval_ms: ClassVar[int] = 500
    ping_timeout_ms: ClassVar[int] = 4000
    time_limit = duration_s + 60.0

    def __init__(self, seed: int = 7) -> None:
        self.seed = seed
        self.fates: dict[str, str] = {}

    def run(self, ctx: LabContext) -> None:
        server = start_server(
            ctx, pingInterval=self.ping_interval_ms, pingTimeout=self.ping_timeout_ms
        )
        fleet = _Fleet(random.Random(self.seed), self.peers_per_process)
        for _ in range(self.initial_processes):
            fleet.spawn(ctx)
            ctx.sleep(1.0)  # staggered: a burst of handshakes overruns tcpdump's buffer
        ticks = int(self.duration_s)
        replace_ticks = max(int(self.replace_every_s), 1)
        for tick in range(1, ticks + 1):
            ctx.sleep(1.0)
            self._tick(ctx, server, fleet)
            if tick % replace_ticks == 0 and tick < ticks - 5:
                self._replace_oldest(ctx, fleet)
        self.fates = dict(fleet.fates)

    def _tick(self, ctx: LabContext, server: Peer, fleet: _Fleet) -> None:
        rng = fleet.rng
        live = fleet.live_labels()
        if not live:
            return
        for proc, label in rng.sample(live, min(len(live), 12)):
            ctx.send(proc, "emit", peer=label, bytes=rng.choice((16, 200, 1500, 6000)),
                     binary=rng.random() < 0.2, ack=rng.random() < 0.5)  # fmt: skip
        proc, label = rng.choice(live)
        ctx.send(proc, "disconnect", peer=label)
        fleet.fates[label] = "client-disconnect"
        if rng.random() < 0.5:
            _, label = rng.choice(fleet.live_labels() or [(proc, label)])
            if label not in fleet.fates:
                ctx.send(server, "kick", peer=label, close=True)
                fleet.fates[label] = "server-disconnect"

    def _replace_oldest(self, ctx: LabContext, fleet: _Fleet) -> None:
        proc, labels = fleet.processes.pop(0)
        ctx.kill(proc)
        for label in labels:
            fleet.fates.setdefault(label, "client-left")
        fleet.spawn(ctx)

    def session_root_cause(self, session: JsonDict) -> str:
        fate = self.fates.get(str(session.get("peer")))
        return fate if fate is not None else super().session_root_cause(session)


class LoadSmall(Load):
    """The same mix, about a tenth of the packets: for quick iteration."""

    name = "load-small"
    description = "A short, smaller run of the load scenario (about 200 k packets)."
    duration_s = 40.0
    initial_processes = 4
    peers_per_process = 40
    replace_every_s = 10.0
    time_limit = duration_s + 60.0


class LoadLong(Load):
    """`load` run twice as long with the same crowd: does memory stay flat?"""

    name = "load-long"
    description = "The load scenario run for twice as long, with the same number of clients."
    duration_s = 2 * Load.duration_s
    time_limit = duration_s + 60.0


VARIANTS = {cls.name: cls for cls in (Load, LoadSmall, LoadLong)}


def _opted_in() -> bool:
    return os.environ.get(OPT_IN_ENV, "") not in ("", "0")


SCENARIOS: tuple[Scenario, ...] = tuple(cls() for cls in VARIANTS.values()) if _opted_in() else ()


def main(argv: list[str] | None = None) -> int:
    """Run a load scenario into a git-ignored directory (never into ``captures/``)."""
    from captures.lab.runner import LAB_DIR, missing_requirements, run_scenario

    parser = argparse.ArgumentParser(prog="python -m captures.lab.scenarios.load")
    parser.add_argument("name", nargs="?", default="load-small", choices=sorted(VARIANTS))
    parser.add_argument("--out", type=Path, default=LAB_DIR / "out")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    problems = missing_requirements()
    if problems:
        print("lab cannot run: " + "; ".join(problems), file=sys.stderr)
        return 2
    scenario = VARIANTS[args.name](args.seed)
    truth = run_scenario(scenario, args.out, LAB_DIR / "work", os.getpid() % 1000)
    print(f"ok     {scenario.name}: {truth.with_suffix('').with_suffix('.pcap')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
