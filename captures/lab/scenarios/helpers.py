"""Building blocks shared by scenarios: start peers, wait until ready, and the run shapes
that several families repeat with another library stack.

A shape (``OneClientLeaves``, ``ServerKicksPair``, ...) is an abstract ``LabScenario``
with ``run`` written once; a concrete scenario only declares its metadata and, through
its family base class, which server and clients ``start_server`` / ``start_clients``
start (socket.io 4.x by default, 2.x with ``lib = {"lib": "v2"}``, python-socketio by
overriding them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from captures.lab.scenario import JsonDict, LabContext, Peer, Scenario

#: Short heartbeats keep captures small: a silent peer is declared dead within seconds.
PING_INTERVAL_MS = 1500
PING_TIMEOUT_MS = 1000
#: Client-side death detection takes pingInterval + pingTimeout; wait a little beyond.
HEARTBEAT_DEADLINE_S = (PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000 + 1.5
#: Client options for scenarios whose clients must come back quickly.
RECONNECT_FAST: dict[str, Any] = {
    "reconnection": True,
    "reconnectionDelay": 300,
    "reconnectionDelayMax": 600,
}
#: The reasons socket.io reports when a client calls ``socket.disconnect()``.
CLIENT_LEAVES = {
    "server_disconnect": "client namespace disconnect",
    "client_disconnect": "io client disconnect",
    "server_close": "transport close",
}
#: The reasons socket.io reports when the server calls ``socket.disconnect(true)``.
SERVER_KICKS = {
    "server_disconnect": "server namespace disconnect",
    "client_disconnect": "io server disconnect",
}
BOTH_PING_TIMEOUT = {"server_close": "ping timeout", "client_close": "ping timeout"}
#: ``connect_pair``'s peers: client-1 upgrades to websocket, client-2 stays on polling.
PAIR = ["client-1", "client-2"]


def json_flags(args: Mapping[str, Any]) -> list[str]:
    """``--key=<json>`` for every argument: how every lab peer takes its arguments."""
    return [f"--{key}={json.dumps(value)}" for key, value in args.items()]


def start_server(
    ctx: LabContext, name: str = "server", *, port: int | None = None, **opts: Any
) -> Peer:
    """Start a node socket.io server (on the captured port unless ``port``) and wait until
    it listens."""
    settings = {"pingInterval": PING_INTERVAL_MS, "pingTimeout": PING_TIMEOUT_MS, **opts}
    listen = ctx.port if port is None else port
    peer = ctx.node("server", name, port=listen, peer=name, **settings)
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


def lose_network(ctx: LabContext, margin_s: float = 3.0) -> None:
    """Let a heartbeat pass, drop the port, wait until both sides gave up."""
    ctx.sleep(PING_INTERVAL_MS / 1000 + 0.3)
    ctx.drop_network()
    ctx.wait_for("engine_close", count=2, timeout=HEARTBEAT_DEADLINE_S + margin_s)


def transports_opts(transports: list[str] | None) -> JsonDict:
    """The client option for ``transports``; none at all for the default (polling, upgrade)."""
    return {} if transports is None else {"transports": transports}


# -- run shapes -------------------------------------------------------------------------------


class LabScenario(Scenario):
    """A scenario whose server and clients come from one library stack; a family swaps
    ``start_server`` / ``start_clients`` and every shape below runs on its stack."""

    #: Peer arguments selecting the node library (``{"lib": "v2"}`` for socket.io 2.x).
    lib: ClassVar[JsonDict] = {}
    #: When set, a shape ends by waiting (this long) for the server to close the sessions
    #: it expects closed, then 0.5 s; otherwise it just lets 1 s pass.
    server_close_timeout: ClassVar[float | None] = None

    def start_server(self, ctx: LabContext, name: str = "server", **opts: Any) -> Peer:
        return start_server(ctx, name, **self.lib, **opts)

    def start_clients(self, ctx: LabContext, name: str, peers: Sequence[str], **opts: Any) -> Peer:
        return start_clients(ctx, name, peers, **self.lib, **opts)

    def connect_pair(self, ctx: LabContext, **opts: Any) -> tuple[Peer, Peer]:
        """client-1 (upgrading to websocket) and polling-only client-2, connected; a pause."""
        ws = self.start_clients(ctx, "client-1", ["client-1"], **opts)
        polling = self.start_clients(ctx, "client-2", ["client-2"], transports=["polling"], **opts)
        wait_connected(ctx, PAIR)
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        return ws, polling

    def settle(self, ctx: LabContext, closes: int = 1) -> None:
        """The end of a run, see ``server_close_timeout``."""
        if self.server_close_timeout is None:
            ctx.sleep(1.0)
            return
        ctx.wait_for("engine_close", side="server", count=closes, timeout=self.server_close_timeout)
        ctx.sleep(0.5)


class OneClientLeaves(LabScenario):
    """client-1 connects (and upgrades unless ``transports`` says otherwise), then calls
    disconnect()."""

    root_cause = "client-disconnect"
    transports: ClassVar[list[str] | None] = None

    def run(self, ctx: LabContext) -> None:
        self.start_server(ctx)
        opts = transports_opts(self.transports)
        client = self.start_clients(ctx, "client-1", ["client-1"], **opts)
        wait_connected(ctx, ["client-1"])
        if self.transports is None:
            wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(client, "disconnect")
        self.settle(ctx)


class ServerKicksPair(LabScenario):
    """The server disconnects client-1 (websocket), then client-2 (polling)."""

    root_cause = "server-disconnect"
    #: Fields of the server's ``kick`` command (node: ``socket.disconnect(close)``).
    kick_fields: ClassVar[JsonDict] = {"close": True}

    def run(self, ctx: LabContext) -> None:
        server = self.start_server(ctx)
        self.connect_pair(ctx)
        ctx.send(server, "kick", peer="client-1", **self.kick_fields)
        ctx.sleep(0.5)
        ctx.send(server, "kick", peer="client-2", **self.kick_fields)
        self.settle(ctx, closes=2)


class PairKilled(LabScenario):
    """Both client processes of the pair are killed with SIGKILL; the server notices."""

    root_cause = "client-left"
    expected: ClassVar = {
        "client-1": {"server_close": "transport close", "client_close": None},
        "client-2": {"server_close": "transport error", "client_close": None},
    }
    server_close_timeout: ClassVar[float | None] = 6

    def run(self, ctx: LabContext) -> None:
        self.start_server(ctx)
        ws, polling = self.connect_pair(ctx)
        ctx.kill(ws)
        ctx.kill(polling)
        self.settle(ctx, closes=2)


class ServerClosesIo(LabScenario):
    """The server calls io.close(); the pair tries to reconnect with ``retry`` and fails."""

    root_cause = "server-shutdown"
    retry: ClassVar[dict[str, Any]] = RECONNECT_FAST

    def run(self, ctx: LabContext) -> None:
        server = self.start_server(ctx)
        self.connect_pair(ctx, **self.retry)
        ctx.send(server, "close_io")
        ctx.wait_for("connect_error", count=2, timeout=8)
        ctx.sleep(0.5)


class NetworkLoss(LabScenario):
    """client-1 connects (upgrading unless ``transports`` says otherwise), then the path
    drops every packet until both sides time out."""

    root_cause = "network-loss"
    expected: ClassVar = {"client-*": BOTH_PING_TIMEOUT}
    transports: ClassVar[list[str] | None] = None
    #: Also wait for the client's Engine.IO open before the loss.
    confirm_open: ClassVar[bool] = False
    #: How much longer than the heartbeat deadline both sides may take to give up.
    loss_margin_s: ClassVar[float] = 3

    def run(self, ctx: LabContext) -> None:
        self.start_server(ctx)
        self.start_clients(ctx, "client-1", ["client-1"], **transports_opts(self.transports))
        wait_connected(ctx, ["client-1"])
        if self.transports is None:
            wait_upgraded(ctx, ["client-1"])
        if self.confirm_open:
            ctx.wait_for("engine_open", side="client", peer="client-1")
        lose_network(ctx, self.loss_margin_s)
        ctx.sleep(0.5)


class BinaryExchange(LabScenario):
    """Binary events with acks both ways, over polling and after the websocket upgrade
    (plus a text ``echo`` with ack when ``also_echo``); then the client disconnects."""

    root_cause = "client-disconnect"
    expected: ClassVar = {"client-*": CLIENT_LEAVES}
    also_echo: ClassVar[bool] = False

    def run(self, ctx: LabContext) -> None:
        server = self.start_server(ctx)
        client = self.start_clients(ctx, "client-1", ["client-1"])
        wait_connected(ctx, ["client-1"])
        ctx.send(client, "emit", event="upload", bytes=64, binary=True, ack=True)
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.3)
        ctx.send(client, "emit", event="upload", bytes=300, binary=True, ack=True)
        ctx.send(server, "emit", event="download", bytes=200, binary=True, ack=True)
        if self.also_echo:
            ctx.send(client, "emit", event="echo", bytes=20, ack=True)
        ctx.wait_for("note", peer=["client-1", "server"], count=3, timeout=5)
        ctx.sleep(0.3)
        ctx.send(client, "disconnect")
        ctx.sleep(1.0)


class NamespaceTour(LabScenario):
    """client-1 joins ``namespaces``, leaves some (``leave_some``), then disconnects /."""

    namespaces: ClassVar[tuple[str, ...]] = ("/",)

    def run(self, ctx: LabContext) -> None:
        nsps = list(self.namespaces)
        server = self.start_server(ctx, namespaces=nsps)
        client = self.start_clients(ctx, "client-1", ["client-1"], namespaces=nsps)
        for nsp in self.namespaces:
            wait_connected(ctx, ["client-1"], nsp=nsp)
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        self.leave_some(ctx, server, client)
        ctx.send(client, "disconnect", nsp="/")
        ctx.sleep(1.0)

    def leave_some(self, ctx: LabContext, server: Peer, client: Peer) -> None:
        raise NotImplementedError
