"""Clean closes and application-level outcomes: socket.io 4.8 server and client in node."""

from __future__ import annotations

from typing import Any, ClassVar

from captures.lab.scenario import JsonDict, LabContext, Scenario
from captures.lab.scenarios.helpers import (
    start_clients,
    start_server,
    wait_connected,
    wait_upgraded,
)

CLIENT_LEAVES = {
    "server_disconnect": "client namespace disconnect",
    "client_disconnect": "io client disconnect",
    "server_close": "transport close",
}


class ClientDisconnectWs(Scenario):
    name = "client-disconnect-ws"
    description = "Client upgrades to websocket, then calls socket.disconnect()."
    root_cause = "client-disconnect"
    expected: ClassVar = {"client-*": CLIENT_LEAVES}

    def run(self, ctx: LabContext) -> None:
        start_server(ctx)
        client = start_clients(ctx, "client-1", ["client-1"])
        wait_connected(ctx, ["client-1"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(client, "disconnect")
        ctx.sleep(1.0)


class ClientDisconnectPolling(Scenario):
    name = "client-disconnect-polling"
    description = "Polling-only client calls socket.disconnect()."
    root_cause = "client-disconnect"
    expected: ClassVar = {"client-*": CLIENT_LEAVES}

    def run(self, ctx: LabContext) -> None:
        start_server(ctx)
        client = start_clients(ctx, "client-1", ["client-1"], transports=["polling"])
        wait_connected(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(client, "disconnect")
        ctx.sleep(1.0)


class ServerDisconnect(Scenario):
    name = "server-disconnect"
    description = (
        "Server calls socket.disconnect(true) on a websocket client and a polling-only client."
    )
    root_cause = "server-disconnect"
    expected: ClassVar = {
        "client-*": {
            "server_disconnect": "server namespace disconnect",
            "client_disconnect": "io server disconnect",
        }
    }

    def run(self, ctx: LabContext) -> None:
        server = start_server(ctx)
        start_clients(ctx, "client-1", ["client-1"])
        start_clients(ctx, "client-2", ["client-2"], transports=["polling"])
        wait_connected(ctx, ["client-1", "client-2"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(server, "kick", peer="client-1", close=True)
        ctx.sleep(0.5)
        ctx.send(server, "kick", peer="client-2", close=True)
        ctx.sleep(1.0)


class ClientKilled(Scenario):
    name = "client-killed"
    description = "Client processes (websocket, polling-only) are killed with SIGKILL."
    root_cause = "client-left"
    expected: ClassVar = {
        "client-1": {"server_close": "transport close", "client_close": None},
        "client-2": {"server_close": "transport error", "client_close": None},
    }

    def run(self, ctx: LabContext) -> None:
        start_server(ctx)
        ws_client = start_clients(ctx, "client-1", ["client-1"])
        polling_client = start_clients(ctx, "client-2", ["client-2"], transports=["polling"])
        wait_connected(ctx, ["client-1", "client-2"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.kill(ws_client)
        ctx.kill(polling_client)
        ctx.wait_for("engine_close", side="server", count=2, timeout=6)
        ctx.sleep(0.5)


class ServerClose(Scenario):
    name = "server-close"
    description = "Server calls io.close(); clients (websocket, polling) try to reconnect."
    root_cause = "server-shutdown"
    expected: ClassVar = {
        "client-*": {
            "server_disconnect": "server shutting down",
            "client_disconnect": "transport close",
        }
    }

    def run(self, ctx: LabContext) -> None:
        server = start_server(ctx)
        retry: dict[str, Any] = {
            "reconnection": True,
            "reconnectionDelay": 500,
            "reconnectionDelayMax": 1000,
        }
        start_clients(ctx, "client-1", ["client-1"], **retry)
        start_clients(ctx, "client-2", ["client-2"], transports=["polling"], **retry)
        wait_connected(ctx, ["client-1", "client-2"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(server, "close_io")
        ctx.wait_for("connect_error", count=2, timeout=8)
        ctx.sleep(0.5)


class Namespaces(Scenario):
    name = "namespaces"
    description = (
        "One client multiplexes /, /admin and /chat; it leaves /chat, the server kicks it "
        "from /admin, then it disconnects /."
    )
    root_cause = "client-disconnect"

    def run(self, ctx: LabContext) -> None:
        server = start_server(ctx, namespaces=["/", "/admin", "/chat"])
        client = start_clients(ctx, "client-1", ["client-1"], namespaces=["/", "/admin", "/chat"])
        for nsp in ("/", "/admin", "/chat"):
            wait_connected(ctx, ["client-1"], nsp=nsp)
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(client, "disconnect", nsp="/chat")
        ctx.sleep(0.5)
        ctx.send(server, "kick", peer="client-1", nsp="/admin", close=False)
        ctx.sleep(0.5)
        ctx.send(client, "disconnect", nsp="/")
        ctx.sleep(1.0)


class AuthRejected(Scenario):
    name = "auth-rejected"
    description = (
        "io.use middleware rejects client-1 ('not authorized'); client-2 connects to / but "
        "/admin's namespace middleware refuses it ('admin only')."
    )
    root_cause = "auth-rejected"
    time_limit = 20.0

    def run(self, ctx: LabContext) -> None:
        start_server(
            ctx,
            namespaces=["/", "/admin"],
            rejectPeers=["client-1"],
            rejectNsp={"/admin": "admin only"},
        )
        start_clients(ctx, "client-1", ["client-1"])
        start_clients(ctx, "client-2", ["client-2"], namespaces=["/", "/admin"])
        ctx.wait_for("connect_error", peer=["client-1", "client-2"], count=2, timeout=8)
        ctx.wait_for("engine_close", side="server", client_peer="client-1", timeout=6)
        ctx.sleep(1.0)

    def session_root_cause(self, session: JsonDict) -> str:
        if session["peer"] == "client-1":
            return self.root_cause
        return super().session_root_cause(session)


class PayloadTooLargeWs(Scenario):
    name = "payload-too-large-ws"
    description = "Websocket client emits 5 kB while the server's maxHttpBufferSize is 1000."
    root_cause = "payload-too-large"
    expected: ClassVar = {
        "client-*": {"server_close": "transport error", "client_close": "transport close"}
    }

    def run(self, ctx: LabContext) -> None:
        start_server(ctx, maxHttpBufferSize=1000)
        client = start_clients(ctx, "client-1", ["client-1"])
        wait_connected(ctx, ["client-1"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(client, "emit", event="upload", bytes=5000)
        ctx.wait_for("engine_close", side="client", timeout=6)
        ctx.sleep(0.5)


class PayloadTooLargePolling(Scenario):
    name = "payload-too-large-polling"
    description = "Polling-only client emits 5 kB while the server's maxHttpBufferSize is 1000."
    root_cause = "payload-too-large"
    expected: ClassVar = {
        "client-*": {"server_close": "transport close", "client_close": "transport error"}
    }

    def run(self, ctx: LabContext) -> None:
        start_server(ctx, maxHttpBufferSize=1000)
        client = start_clients(ctx, "client-1", ["client-1"], transports=["polling"])
        wait_connected(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(client, "emit", event="upload", bytes=5000)
        ctx.wait_for("engine_close", side="client", timeout=6)
        ctx.sleep(0.5)


class BinaryAcks(Scenario):
    name = "binary-acks"
    description = (
        "Binary events both ways with acknowledgement callbacks (binary acks), over polling "
        "and after the websocket upgrade; then the client disconnects."
    )
    root_cause = "client-disconnect"
    expected: ClassVar = {"client-*": CLIENT_LEAVES}

    def run(self, ctx: LabContext) -> None:
        server = start_server(ctx)
        client = start_clients(ctx, "client-1", ["client-1"])
        wait_connected(ctx, ["client-1"])
        ctx.send(client, "emit", event="upload", bytes=64, binary=True, ack=True)
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.3)
        ctx.send(client, "emit", event="upload", bytes=300, binary=True, ack=True)
        ctx.send(server, "emit", event="download", bytes=200, binary=True, ack=True)
        ctx.send(client, "emit", event="echo", bytes=20, ack=True)
        ctx.wait_for("note", peer=["client-1", "server"], count=3, timeout=5)
        ctx.sleep(0.3)
        ctx.send(client, "disconnect")
        ctx.sleep(1.0)


class Deflate(Scenario):
    name = "deflate"
    description = (
        "permessage-deflate on both sides with threshold 0 (every websocket message "
        "compressed); some events, then the client disconnects."
    )
    root_cause = "client-disconnect"
    expected: ClassVar = {"client-*": CLIENT_LEAVES}

    def run(self, ctx: LabContext) -> None:
        deflate = {"threshold": 0}
        server = start_server(ctx, perMessageDeflate=deflate)
        client = start_clients(ctx, "client-1", ["client-1"], perMessageDeflate=deflate)
        wait_connected(ctx, ["client-1"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.3)
        ctx.send(client, "emit", event="echo", bytes=500, ack=True)
        ctx.send(server, "emit", event="download", bytes=800, ack=True)
        ctx.sleep(2.0)
        ctx.send(client, "disconnect")
        ctx.sleep(1.0)
