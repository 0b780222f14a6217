"""Other peers: socket.io 2.x (Engine.IO v3) in node, and python-socketio (server and client).

socket.io 2.5.1 / socket.io-client 2.5.0 run through the ordinary node peers with
``lib="v2"``; the python peers are ``captures/lab/python/server.py`` and ``client.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

from captures.lab.scenario import LabContext, Peer, Scenario
from captures.lab.scenarios.helpers import (
    HEARTBEAT_DEADLINE_S,
    PING_INTERVAL_MS,
    PING_TIMEOUT_MS,
    start_clients,
    start_server,
    wait_connected,
    wait_upgraded,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
V2_PORT = 3200
PY_PORT = 3300
RECONNECT_FAST: dict[str, Any] = {
    "reconnection": True,
    "reconnectionDelay": 300,
    "reconnectionDelayMax": 600,
}
V2_CLIENT_LEAVES = {
    "server_disconnect": "client namespace disconnect",
    "client_disconnect": "io client disconnect",
    "server_close": "transport close",
}
V2_KICKED = {
    "server_disconnect": "server namespace disconnect",
    "client_disconnect": "io server disconnect",
}
BOTH_PING_TIMEOUT = {"server_close": "ping timeout", "client_close": "ping timeout"}


# -- starting peers ------------------------------------------------------------------------


def start_v2_server(ctx: LabContext, **opts: Any) -> Peer:
    return start_server(ctx, lib="v2", **opts)


def start_v2_clients(ctx: LabContext, name: str, peers: list[str], **opts: Any) -> Peer:
    return start_clients(ctx, name, peers, lib="v2", **opts)


def _python(ctx: LabContext, module: str, name: str, args: dict[str, Any]) -> Peer:
    """Start ``captures.lab.python.<module>`` with the interpreter running the lab."""
    import json

    argv = [sys.executable, "-m", f"captures.lab.python.{module}"]
    argv += [f"--{key}={json.dumps(value)}" for key, value in args.items()]
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


class V2Scenario(Scenario):
    family = "node-v2"
    port = V2_PORT


class V2ClientDisconnect(V2Scenario):
    name = "v2-client-disconnect"
    description = "socket.io 2.x: the client upgrades to websocket, then calls disconnect()."
    root_cause = "client-disconnect"
    expected: ClassVar = {"client-*": V2_CLIENT_LEAVES}

    def run(self, ctx: LabContext) -> None:
        start_v2_server(ctx)
        client = start_v2_clients(ctx, "client-1", ["client-1"])
        wait_connected(ctx, ["client-1"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(client, "disconnect")
        ctx.sleep(1.0)


class V2PollingDisconnect(V2Scenario):
    name = "v2-polling-disconnect"
    description = "socket.io 2.x: a polling-only client (b64=1 payloads) calls disconnect()."
    root_cause = "client-disconnect"
    expected: ClassVar = {"client-*": V2_CLIENT_LEAVES}

    def run(self, ctx: LabContext) -> None:
        start_v2_server(ctx)
        client = start_v2_clients(ctx, "client-1", ["client-1"], transports=["polling"])
        wait_connected(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(client, "disconnect")
        ctx.sleep(1.0)


class V2ServerDisconnect(V2Scenario):
    name = "v2-server-disconnect"
    description = (
        "socket.io 2.x: the server calls socket.disconnect(true) on a websocket client and "
        "on a polling-only client."
    )
    root_cause = "server-disconnect"
    expected: ClassVar = {"client-*": V2_KICKED}

    def run(self, ctx: LabContext) -> None:
        server = start_v2_server(ctx)
        start_v2_clients(ctx, "client-1", ["client-1"])
        start_v2_clients(ctx, "client-2", ["client-2"], transports=["polling"])
        wait_connected(ctx, ["client-1", "client-2"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(server, "kick", peer="client-1", close=True)
        ctx.sleep(0.5)
        ctx.send(server, "kick", peer="client-2", close=True)
        ctx.sleep(1.0)


class V2Namespaces(V2Scenario):
    name = "v2-namespaces"
    description = (
        "socket.io 2.x: one client joins / and /admin (socket id '/admin#<sid>'), leaves "
        "/admin, then disconnects /."
    )
    root_cause = "client-disconnect"

    def run(self, ctx: LabContext) -> None:
        start_v2_server(ctx, namespaces=["/", "/admin"])
        client = start_v2_clients(ctx, "client-1", ["client-1"], namespaces=["/", "/admin"])
        for nsp in ("/", "/admin"):
            wait_connected(ctx, ["client-1"], nsp=nsp)
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(client, "disconnect", nsp="/admin")
        ctx.sleep(0.5)
        ctx.send(client, "disconnect", nsp="/")
        ctx.sleep(1.0)


class V2NetworkLoss(V2Scenario):
    name = "v2-network-loss"
    description = (
        "socket.io 2.x (Engine.IO v3: the client pings) after the websocket upgrade; the "
        "path drops every packet (nft) until both sides time out."
    )
    root_cause = "network-loss"
    expected: ClassVar = {"client-*": BOTH_PING_TIMEOUT}

    def run(self, ctx: LabContext) -> None:
        start_v2_server(ctx)
        start_v2_clients(ctx, "client-1", ["client-1"])
        wait_connected(ctx, ["client-1"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(PING_INTERVAL_MS / 1000 + 0.3)
        ctx.drop_network()
        ctx.wait_for("engine_close", count=2, timeout=HEARTBEAT_DEADLINE_S + 3)
        ctx.sleep(0.5)


class V2ServerClose(V2Scenario):
    name = "v2-server-close"
    description = (
        "socket.io 2.x: the server calls io.close() with a websocket and a polling client "
        "connected; they try to reconnect and are refused. 2.x passes undefined to the "
        "server's disconnect handler: recorded as reason null."
    )
    root_cause = "server-shutdown"
    #: socket.io 2.x io.close() calls the "/" sockets' onclose() without a reason: the
    #: disconnect handler receives undefined, which the node hook records as null.
    expected: ClassVar = {
        "client-*": {"server_disconnect": None, "client_disconnect": "transport close"}
    }

    def run(self, ctx: LabContext) -> None:
        server = start_v2_server(ctx)
        start_v2_clients(ctx, "client-1", ["client-1"], **RECONNECT_FAST)
        start_v2_clients(ctx, "client-2", ["client-2"], transports=["polling"], **RECONNECT_FAST)
        wait_connected(ctx, ["client-1", "client-2"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(server, "close_io")
        ctx.wait_for("connect_error", count=2, timeout=8)
        ctx.sleep(0.5)


class V2Binary(V2Scenario):
    name = "v2-binary"
    description = (
        "socket.io 2.x: binary events with acknowledgements both ways, over base64 polling "
        "and after the websocket upgrade; then the client disconnects."
    )
    root_cause = "client-disconnect"
    expected: ClassVar = {"client-*": V2_CLIENT_LEAVES}

    def run(self, ctx: LabContext) -> None:
        server = start_v2_server(ctx)
        client = start_v2_clients(ctx, "client-1", ["client-1"])
        wait_connected(ctx, ["client-1"])
        ctx.send(client, "emit", event="upload", bytes=64, binary=True, ack=True)
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.3)
        ctx.send(client, "emit", event="upload", bytes=300, binary=True, ack=True)
        ctx.send(server, "emit", event="download", bytes=200, binary=True, ack=True)
        ctx.wait_for("note", peer=["client-1", "server"], count=3, timeout=5)
        ctx.sleep(0.3)
        ctx.send(client, "disconnect")
        ctx.sleep(1.0)


# -- python-socketio ---------------------------------------------------------------------------


class PyScenario(Scenario):
    family = "python-socketio"
    port = PY_PORT


class PyServerClientDisconnect(PyScenario):
    name = "py-server-client-disconnect"
    description = (
        "python-socketio AsyncServer (aiohttp); node socket.io-client 4.8 peers, one "
        "upgrading and one polling-only, call disconnect()."
    )
    root_cause = "client-disconnect"
    expected: ClassVar = {
        "client-*": {
            "server_disconnect": "client disconnect",
            "client_disconnect": "io client disconnect",
        }
    }

    def run(self, ctx: LabContext) -> None:
        start_py_server(ctx)
        ws = start_clients(ctx, "client-1", ["client-1"])
        polling = start_clients(ctx, "client-2", ["client-2"], transports=["polling"])
        wait_connected(ctx, ["client-1", "client-2"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(ws, "disconnect")
        ctx.send(polling, "disconnect")
        ctx.wait_for("engine_close", side="server", count=2, timeout=6)
        ctx.sleep(0.5)


class PyServerDisconnect(PyScenario):
    name = "py-server-disconnect"
    description = (
        "python-socketio AsyncServer calls sio.disconnect(sid) on a websocket and a "
        "polling-only node socket.io-client 4.8."
    )
    root_cause = "server-disconnect"
    expected: ClassVar = {
        "client-*": {
            "server_disconnect": "server disconnect",
            "client_disconnect": "io server disconnect",
        }
    }

    def run(self, ctx: LabContext) -> None:
        server = start_py_server(ctx)
        start_clients(ctx, "client-1", ["client-1"])
        start_clients(ctx, "client-2", ["client-2"], transports=["polling"])
        wait_connected(ctx, ["client-1", "client-2"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(server, "kick", peer="client-1")
        ctx.sleep(0.5)
        ctx.send(server, "kick", peer="client-2")
        ctx.wait_for("engine_close", side="server", count=2, timeout=6)
        ctx.sleep(0.5)


class PyServerNetworkLoss(PyScenario):
    name = "py-server-network-loss"
    description = (
        "python-socketio AsyncServer and an upgraded node socket.io-client 4.8; the path "
        "drops every packet (nft) until both sides time out."
    )
    root_cause = "network-loss"
    expected: ClassVar = {"client-*": BOTH_PING_TIMEOUT}

    def run(self, ctx: LabContext) -> None:
        start_py_server(ctx)
        start_clients(ctx, "client-1", ["client-1"])
        wait_connected(ctx, ["client-1"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(PING_INTERVAL_MS / 1000 + 0.3)
        ctx.drop_network()
        ctx.wait_for("engine_close", count=2, timeout=HEARTBEAT_DEADLINE_S + 4)
        ctx.sleep(0.5)


class PyClientDisconnect(PyScenario):
    name = "py-client-disconnect"
    description = (
        "python-socketio AsyncClient upgrades to websocket against a node socket.io 4.8 "
        "server, then calls disconnect()."
    )
    root_cause = "client-disconnect"
    expected: ClassVar = {
        "client-*": {"server_close": "transport close", "client_close": "client disconnect"}
    }

    def run(self, ctx: LabContext) -> None:
        start_server(ctx)
        client = start_py_client(ctx, "client-1")
        wait_connected(ctx, ["client-1"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(client, "disconnect")
        ctx.wait_for("engine_close", side="server", timeout=5)
        ctx.sleep(0.5)


class PyClientPollingDisconnect(PyScenario):
    name = "py-client-polling-disconnect"
    description = (
        "python-socketio AsyncClient with transports=['polling'] against a node socket.io "
        "4.8 server calls disconnect()."
    )
    root_cause = "client-disconnect"
    expected: ClassVar = {
        "client-*": {"server_close": "transport error", "client_close": "client disconnect"}
    }

    def run(self, ctx: LabContext) -> None:
        start_server(ctx)
        client = start_py_client(ctx, "client-1", transports=["polling"])
        wait_connected(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(client, "disconnect")
        ctx.wait_for("engine_close", side="server", timeout=5)
        ctx.sleep(0.5)


class PyClientKilled(PyScenario):
    name = "py-client-killed"
    description = (
        "python-socketio AsyncClient processes (upgraded websocket, polling-only) are "
        "killed with SIGKILL; the node socket.io 4.8 server notices."
    )
    root_cause = "client-left"
    expected: ClassVar = {
        "client-1": {"server_close": "transport close", "client_close": None},
        "client-2": {"server_close": "transport error", "client_close": None},
    }

    def run(self, ctx: LabContext) -> None:
        start_server(ctx)
        ws = start_py_client(ctx, "client-1")
        polling = start_py_client(ctx, "client-2", transports=["polling"])
        wait_connected(ctx, ["client-1", "client-2"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.kill(ws)
        ctx.kill(polling)
        ctx.wait_for("engine_close", side="server", count=2, timeout=HEARTBEAT_DEADLINE_S + 2)
        ctx.sleep(0.5)


class PyBothDisconnect(PyScenario):
    name = "py-both-disconnect"
    description = (
        "python-socketio AsyncClient and AsyncServer: the client upgrades to websocket, "
        "emits an event with an ack, then calls disconnect()."
    )
    root_cause = "client-disconnect"
    #: The lab notes: python-socketio's client closes its websocket without sending 41,
    #: so the server's read loop ends without a close packet ("transport close").
    expected: ClassVar = {
        "client-*": {
            "server_disconnect": "transport close",
            "client_disconnect": "client disconnect",
        }
    }

    def run(self, ctx: LabContext) -> None:
        start_py_server(ctx)
        client = start_py_client(ctx, "client-1")
        wait_connected(ctx, ["client-1"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.3)
        ctx.send(client, "emit", event="echo", bytes=20, ack=True)
        ctx.wait_for("note", peer="client-1", timeout=5)
        ctx.sleep(0.3)
        ctx.send(client, "disconnect")
        ctx.wait_for("engine_close", side="server", timeout=5)
        ctx.sleep(0.5)


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
