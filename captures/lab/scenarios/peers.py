"""Other peers: socket.io 2.x (Engine.IO v3) in node, and python-socketio (server and client).

socket.io 2.5.1 / socket.io-client 2.5.0 run through the ordinary node peers with
``lib="v2"``; the python peers are ``captures/lab/python/server.py`` and ``client.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from captures.lab.scenario import LabContext, Peer, Scenario
from captures.lab.scenarios.helpers import (
    CLIENT_LEAVES,
    HEARTBEAT_DEADLINE_S,
    PING_INTERVAL_MS,
    PING_TIMEOUT_MS,
    RECONNECT_FAST,
    SERVER_KICKS,
    BinaryExchange,
    LabScenario,
    NamespaceTour,
    NetworkLoss,
    OneClientLeaves,
    PairKilled,
    ServerClosesIo,
    ServerKicksPair,
    json_flags,
    wait_connected,
    wait_upgraded,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
V2_PORT = 3200
PY_PORT = 3300


# -- starting python peers -------------------------------------------------------------------


def _python(ctx: LabContext, module: str, name: str, args: dict[str, Any]) -> Peer:
    """Start ``captures.lab.python.<module>`` with the interpreter running the lab."""
    argv = [sys.executable, "-m", f"captures.lab.python.{module}", *json_flags(args)]
    return ctx.spawn(argv, name, {"PYTHONPATH": str(REPO_ROOT)})


def start_py_server(ctx: LabContext, name: str = "server", **opts: Any) -> Peer:
    """A python-socketio AsyncServer (aiohttp) with the lab's short heartbeats."""
    args = {
        "port": ctx.port,
        "peer": name,
        "pingInterval": PING_INTERVAL_MS,
        "pingTimeout": PING_TIMEOUT_MS,
        **opts,
    }
    peer = _python(ctx, "server", name, args)
    ctx.wait_for("note", kind="listening", peer=name, timeout=15)
    return peer


def start_py_client(ctx: LabContext, name: str, **opts: Any) -> Peer:
    """A python-socketio AsyncClient peer labelled ``name``."""
    return _python(ctx, "client", name, {"url": ctx.url, "peer": name, **opts})


# -- socket.io 2.x ---------------------------------------------------------------------------


class V2Scenario(LabScenario):
    family = "node-v2"
    port = V2_PORT
    lib: ClassVar = {"lib": "v2"}


class V2ClientDisconnect(V2Scenario, OneClientLeaves):
    name = "v2-client-disconnect"
    description = "socket.io 2.x: the client upgrades to websocket, then calls disconnect()."
    expected: ClassVar = {"client-*": CLIENT_LEAVES}


class V2PollingDisconnect(V2Scenario, OneClientLeaves):
    name = "v2-polling-disconnect"
    description = "socket.io 2.x: a polling-only client (b64=1 payloads) calls disconnect()."
    transports: ClassVar[list[str] | None] = ["polling"]
    expected: ClassVar = {"client-*": CLIENT_LEAVES}


class V2ServerDisconnect(V2Scenario, ServerKicksPair):
    name = "v2-server-disconnect"
    description = (
        "socket.io 2.x: the server calls socket.disconnect(true) on a websocket client and "
        "on a polling-only client."
    )
    expected: ClassVar = {"client-*": SERVER_KICKS}


class V2Namespaces(V2Scenario, NamespaceTour):
    name = "v2-namespaces"
    description = (
        "socket.io 2.x: one client joins / and /admin (socket id '/admin#<sid>'), leaves "
        "/admin, then disconnects /."
    )
    root_cause = "client-disconnect"
    namespaces = ("/", "/admin")

    def leave_some(self, ctx: LabContext, server: Peer, client: Peer) -> None:
        ctx.send(client, "disconnect", nsp="/admin")
        ctx.sleep(0.5)


class V2NetworkLoss(V2Scenario, NetworkLoss):
    name = "v2-network-loss"
    description = (
        "socket.io 2.x (Engine.IO v3: the client pings) after the websocket upgrade; the "
        "path drops every packet (nft) until both sides time out."
    )


class V2ServerClose(V2Scenario, ServerClosesIo):
    name = "v2-server-close"
    description = (
        "socket.io 2.x: the server calls io.close() with a websocket and a polling client "
        "connected; they try to reconnect and are refused. 2.x passes undefined to the "
        "server's disconnect handler: recorded as reason null."
    )
    retry: ClassVar = RECONNECT_FAST
    #: socket.io 2.x io.close() calls the "/" sockets' onclose() without a reason: the
    #: disconnect handler receives undefined, which the node hook records as null.
    expected: ClassVar = {
        "client-*": {"server_disconnect": None, "client_disconnect": "transport close"}
    }


class V2Binary(V2Scenario, BinaryExchange):
    name = "v2-binary"
    description = (
        "socket.io 2.x: binary events with acknowledgements both ways, over base64 polling "
        "and after the websocket upgrade; then the client disconnects."
    )


# -- python-socketio ---------------------------------------------------------------------------


class PyScenario(LabScenario):
    family = "python-socketio"
    port = PY_PORT


class PyServer(PyScenario):
    """python-socketio AsyncServer, node socket.io-client 4.8 peers."""

    def start_server(self, ctx: LabContext, name: str = "server", **opts: Any) -> Peer:
        return start_py_server(ctx, name, **opts)


class PyClient(PyScenario):
    """python-socketio AsyncClient peers, one process per peer (labelled like it)."""

    def start_clients(self, ctx: LabContext, name: str, peers: Sequence[str], **opts: Any) -> Peer:
        if list(peers) != [name]:
            raise ValueError(f"a python client process holds one peer called {name!r}")
        return start_py_client(ctx, name, **opts)


class PyServerClientDisconnect(PyServer):
    name = "py-server-client-disconnect"
    description = (
        "python-socketio AsyncServer (aiohttp); node socket.io-client 4.8 peers, one "
        "upgrading and one polling-only, call disconnect()."
    )
    root_cause = "client-disconnect"
    server_close_timeout = 6
    expected: ClassVar = {
        "client-*": {
            "server_disconnect": "client disconnect",
            "client_disconnect": "io client disconnect",
        }
    }

    def run(self, ctx: LabContext) -> None:
        self.start_server(ctx)
        for client in self.connect_pair(ctx):
            ctx.send(client, "disconnect")
        self.settle(ctx, closes=2)


class PyServerDisconnect(PyServer, ServerKicksPair):
    name = "py-server-disconnect"
    description = (
        "python-socketio AsyncServer calls sio.disconnect(sid) on a websocket and a "
        "polling-only node socket.io-client 4.8."
    )
    kick_fields: ClassVar = {}
    server_close_timeout = 6
    expected: ClassVar = {
        "client-*": {
            "server_disconnect": "server disconnect",
            "client_disconnect": "io server disconnect",
        }
    }


class PyServerNetworkLoss(PyServer, NetworkLoss):
    name = "py-server-network-loss"
    description = (
        "python-socketio AsyncServer and an upgraded node socket.io-client 4.8; the path "
        "drops every packet (nft) until both sides time out."
    )
    loss_margin_s = 4


class PyClientDisconnect(PyClient, OneClientLeaves):
    name = "py-client-disconnect"
    description = (
        "python-socketio AsyncClient upgrades to websocket against a node socket.io 4.8 "
        "server, then calls disconnect()."
    )
    server_close_timeout = 5
    expected: ClassVar = {
        "client-*": {"server_close": "transport close", "client_close": "client disconnect"}
    }


class PyClientPollingDisconnect(PyClient, OneClientLeaves):
    name = "py-client-polling-disconnect"
    description = (
        "python-socketio AsyncClient with transports=['polling'] against a node socket.io "
        "4.8 server calls disconnect()."
    )
    transports: ClassVar[list[str] | None] = ["polling"]
    server_close_timeout = 5
    expected: ClassVar = {
        "client-*": {"server_close": "transport error", "client_close": "client disconnect"}
    }


class PyClientKilled(PyClient, PairKilled):
    name = "py-client-killed"
    description = (
        "python-socketio AsyncClient processes (upgraded websocket, polling-only) are "
        "killed with SIGKILL; the node socket.io 4.8 server notices."
    )
    server_close_timeout = HEARTBEAT_DEADLINE_S + 2


class PyBothDisconnect(PyServer, PyClient):
    name = "py-both-disconnect"
    description = (
        "python-socketio AsyncClient and AsyncServer: the client upgrades to websocket, "
        "emits an event with an ack, then calls disconnect()."
    )
    root_cause = "client-disconnect"
    server_close_timeout = 5
    #: The lab notes: python-socketio's client closes its websocket without sending 41,
    #: so the server's read loop ends without a close packet ("transport close").
    expected: ClassVar = {
        "client-*": {
            "server_disconnect": "transport close",
            "client_disconnect": "client disconnect",
        }
    }

    def run(self, ctx: LabContext) -> None:
        self.start_server(ctx)
        client = self.start_clients(ctx, "client-1", ["client-1"])
        wait_connected(ctx, ["client-1"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.3)
        ctx.send(client, "emit", event="echo", bytes=20, ack=True)
        ctx.wait_for("note", peer="client-1", timeout=5)
        ctx.sleep(0.3)
        ctx.send(client, "disconnect")
        self.settle(ctx)


SCENARIOS: tuple[Scenario, ...] = (
    V2ClientDisconnect(),
    V2PollingDisconnect(),
    V2ServerDisconnect(),
    V2Namespaces(),
    V2NetworkLoss(),
    V2ServerClose(),
    V2Binary(),
    PyServerClientDisconnect(),
    PyServerDisconnect(),
    PyServerNetworkLoss(),
    PyClientDisconnect(),
    PyClientPollingDisconnect(),
    PyClientKilled(),
    PyBothDisconnect(),
)
