"""What a scenario declares, and the interface it drives the lab through.

A scenario is a small class: metadata (name, family, description, root cause, time limit)
plus ``run(ctx)``, which starts peers and injects one fault using only the ``LabContext``
methods. It never reads the event log to decide what happened: the truth file is built
afterwards from what the libraries logged.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

JsonDict = dict[str, Any]

#: The per-session fields a scenario may state an expectation for (see ``expected``).
EXPECTABLE = ("server_close", "client_close", "server_disconnect", "client_disconnect")


class Peer(Protocol):
    """A process started by the lab; only its label and pid matter to scenarios."""

    @property
    def name(self) -> str: ...

    @property
    def pid(self) -> int: ...


class LabContext(Protocol):
    """The lab as a scenario sees it; every blocking call honours the time limit."""

    port: int
    url: str

    def node(self, script: str, name: str, **args: Any) -> Peer: ...

    def spawn(self, argv: list[str], name: str, env: Mapping[str, str] | None = None) -> Peer: ...

    def send(self, target: Peer, cmd: str, /, **fields: Any) -> None: ...

    def kill(self, peer: Peer) -> None: ...

    def stop(self, peer: Peer) -> None: ...

    def cont(self, peer: Peer) -> None: ...

    def drop_network(self) -> None: ...

    def restore_network(self) -> None: ...

    def sleep(self, seconds: float) -> None: ...

    def wait_for(
        self, event: str, *, count: int = 1, timeout: float = 10.0, **match: Any
    ) -> list[JsonDict]: ...

    def note(self, text: str) -> None: ...

    def work_path(self, name: str) -> Path:
        """A file in this run's work directory (git-ignored): configs, certificates, logs."""
        ...


class Scenario:
    """Base class: subclasses set the metadata and implement ``run``."""

    name: ClassVar[str]
    family: ClassVar[str] = "node-v4"
    description: ClassVar[str]
    root_cause: ClassVar[str]
    time_limit: ClassVar[float] = 30.0
    #: Reference captures fail on any packet tcpdump dropped; a benchmark capture may not.
    tolerate_dropped_packets: ClassVar[bool] = False
    port: ClassVar[int] = 3000
    #: Predicted reasons per client peer pattern (fnmatch), e.g.
    #: ``{"client-*": {"server_close": "transport close"}}``. Only used to add a note
    #: to the truth when a library says something else; never written as truth.
    expected: ClassVar[Mapping[str, Mapping[str, str | None]]] = {}
    #: Name of a work-directory file holding the run's TLS key log (see ``work_path``); the
    #: runner copies it beside the capture as ``<name>.keys`` and names it in the truth.
    tls_keylog: ClassVar[str | None] = None
    #: Name of a work-directory file holding a HAR recorded during the run (a browser's);
    #: the runner copies it beside the capture as ``<name>.har`` and names it in the truth.
    har: ClassVar[str | None] = None

    def run(self, ctx: LabContext) -> None:
        raise NotImplementedError

    def after_capture(self, ctx: LabContext) -> None:
        """Runs once the capture has stopped and the peers are frozen; nothing it causes is
        captured or part of the truth. For peers that write files as they exit (a HAR is
        written when the browser context closes, which would otherwise put that close into
        the capture)."""

    def session_root_cause(self, session: JsonDict) -> str:
        """Root cause of one session; sessions nobody closed were open at capture end."""
        if _nothing_closed(session):
            return "capture-ended"
        return self.root_cause

    def expectation_for(self, peer: str | None) -> Mapping[str, str | None]:
        for pattern, fields in self.expected.items():
            if peer is not None and fnmatch.fnmatchcase(peer, pattern):
                return fields
        return {}


def _nothing_closed(session: JsonDict) -> bool:
    if session["server_close"] or session["client_close"]:
        return False
    return not any(s["server_disconnect"] or s["client_disconnect"] for s in session["sockets"])
