"""Building blocks shared by scenarios: start a server, start clients, wait until ready."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from captures.lab.scenario import LabContext, Peer

#: Short heartbeats keep captures small: a silent peer is declared dead within seconds.
PING_INTERVAL_MS = 1500
PING_TIMEOUT_MS = 1000
#: Client-side death detection takes pingInterval + pingTimeout; wait a little beyond.
HEARTBEAT_DEADLINE_S = (PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000 + 1.5


def start_server(ctx: LabContext, name: str = "server", **opts: Any) -> Peer:
    """Start a node socket.io server and wait until it listens."""
    settings = {"pingInterval": PING_INTERVAL_MS, "pingTimeout": PING_TIMEOUT_MS, **opts}
    peer = ctx.node("server", name, port=ctx.port, peer=name, **settings)
    ctx.wait_for("note", kind="listening", peer=name, timeout=10)
    return peer


def start_clients(
    ctx: LabContext,
    name: str,
    peers: Sequence[str],
    *,
    namespaces: Sequence[str] = ("/",),
    **opts: Any,
) -> Peer:
    """Start one node process holding the given client peers (no reconnection by default)."""
    settings = {"reconnection": False, **opts}
    return ctx.node(
        "client", name, url=ctx.url, peers=list(peers), namespaces=list(namespaces), **settings
    )


def wait_connected(
    ctx: LabContext, peers: Sequence[str], nsp: str = "/", timeout: float = 10.0
) -> None:
    """Wait until every peer's socket on ``nsp`` reported "connect"."""
    ctx.wait_for(
        "socket_connect",
        side="client",
        peer=list(peers),
        nsp=nsp,
        count=len(peers),
        timeout=timeout,
    )


def wait_upgraded(ctx: LabContext, peers: Sequence[str], timeout: float = 10.0) -> None:
    ctx.wait_for(
        "engine_upgrade", side="client", peer=list(peers), count=len(peers), timeout=timeout
    )


def peer_labels(first: int, last: int) -> list[str]:
    return [f"client-{n}" for n in range(first, last + 1)]
