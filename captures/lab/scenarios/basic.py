"""Clean closes and application-level outcomes: socket.io 4.8 server and client in node."""

from __future__ import annotations

from typing import ClassVar

from captures.lab.scenario import JsonDict, LabContext, Peer, Scenario
from captures.lab.scenarios.helpers import (
    CLIENT_LEAVES,
    SERVER_KICKS,
    BinaryExchange,
    NamespaceTour,
    OneClientLeaves,
    PairKilled,
    ServerClosesIo,
    ServerKicksPair,
    start_clients,
    start_server,
    transports_opts,
    wait_connected,
    wait_upgraded,
)


class ClientDisconnectWs(OneClientLeaves):
    name = "client-disconnect-ws"
    description = "Client upgrades to websocket, then calls socket.disconnect()."
    expected: ClassVar = {"client-*": CLIENT_LEAVES}


class ClientDisconnectPolling(OneClientLeaves):
    name = "client-disconnect-polling"
    description = "Polling-only client calls socket.disconnect()."
    transports: ClassVar[list[str] | None] = ["polling"]
    expected: ClassVar = {"client-*": CLIENT_LEAVES}


class ServerDisconnect(ServerKicksPair):
    name = "server-disconnect"
    description = (
        "Server calls socket.disconnect(true) on a websocket client and a polling-only client."
    )
    expected: ClassVar = {"client-*": SERVER_KICKS}


class ClientKilled(PairKilled):
    name = "client-killed"
    description = "Client processes (websocket, polling-only) are killed with SIGKILL."


class ServerClose(ServerClosesIo):
    name = "server-close"
    description = "Server calls io.close(); clients (websocket, polling) try to reconnect."
    retry: ClassVar = {"reconnection": True, "reconnectionDelay": 500, "reconnectionDelayMax": 1000}
    expected: ClassVar = {
        "client-*": {
            "server_disconnect": "server shutting down",
            "client_disconnect": "transport close",
        }
    }


class Namespaces(NamespaceTour):
    name = "namespaces"
    description = (
        "One client multiplexes /, /admin and /chat; it leaves /chat, the server kicks it "
        "from /admin, then it disconnects /."
    )
    root_cause = "client-disconnect"
    namespaces = ("/", "/admin", "/chat")

    def leave_some(self, ctx: LabContext, server: Peer, client: Peer) -> None:
        ctx.send(client, "disconnect", nsp="/chat")
        ctx.sleep(0.5)
        ctx.send(server, "kick", peer="client-1", nsp="/admin", close=False)
        ctx.sleep(0.5)


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


class PayloadTooLarge(Scenario):
    """client-1 emits 5 kB while the server's maxHttpBufferSize is 1000."""

    transports: ClassVar[list[str] | None] = None

    def run(self, ctx: LabContext) -> None:
        start_server(ctx, maxHttpBufferSize=1000)
        opts = transports_opts(self.transports)
        client = start_clients(ctx, "client-1", ["client-1"], **opts)
        wait_connected(ctx, ["client-1"])
        if self.transports is None:
            wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.5)
        ctx.send(client, "emit", event="upload", bytes=5000)
        ctx.wait_for("engine_close", side="client", timeout=6)
        ctx.sleep(0.5)


class PayloadTooLargeWs(PayloadTooLarge):
    name = "payload-too-large-ws"
    description = "Websocket client emits 5 kB while the server's maxHttpBufferSize is 1000."
    root_cause = "payload-too-large"
    expected: ClassVar = {
        "client-*": {"server_close": "transport error", "client_close": "transport close"}
    }


class PayloadTooLargePolling(PayloadTooLarge):
    name = "payload-too-large-polling"
    description = "Polling-only client emits 5 kB while the server's maxHttpBufferSize is 1000."
    root_cause = "payload-too-large"
    transports: ClassVar[list[str] | None] = ["polling"]
    expected: ClassVar = {
        "client-*": {"server_close": "transport close", "client_close": "transport error"}
    }


class BinaryAcks(BinaryExchange):
    name = "binary-acks"
    description = (
        "Binary events both ways with acknowledgement callbacks (binary acks), over polling "
        "and after the websocket upgrade; then the client disconnects."
    )
    also_echo = True


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
