"""Faults: network loss, stalls, crashes, malformed packets, version mismatch, crowds."""

from __future__ import annotations

from typing import ClassVar

from captures.lab.scenario import JsonDict, LabContext, Scenario
from captures.lab.scenarios.helpers import (
    HEARTBEAT_DEADLINE_S,
    PING_INTERVAL_MS,
    PING_TIMEOUT_MS,
    RECONNECT_FAST,
    LabScenario,
    NetworkLoss,
    peer_labels,
    start_clients,
    start_server,
    wait_connected,
    wait_upgraded,
)

STALL_MS = PING_INTERVAL_MS + PING_TIMEOUT_MS + 1500


class NetworkLossWs(NetworkLoss):
    name = "network-loss-ws"
    description = (
        "Websocket-only session; the path drops every packet (nft) until both sides time out."
    )
    transports: ClassVar[list[str] | None] = ["websocket"]
    confirm_open = True


class NetworkLossPolling(NetworkLoss):
    name = "network-loss-polling"
    description = (
        "Polling-only session; the path drops every packet (nft) until both sides time out."
    )
    transports: ClassVar[list[str] | None] = ["polling"]
    confirm_open = True


class NetworkLossAfterUpgrade(NetworkLoss):
    name = "network-loss-after-upgrade"
    description = "Session upgraded from polling to websocket, then the path drops every packet."
    confirm_open = True


class Malformed(Scenario):
    name = "malformed"
    description = (
        "Raw ws clients: raw-1 sends an unknown Engine.IO packet type ('9'), raw-2 a "
        "Socket.IO EVENT with broken JSON."
    )
    root_cause = "protocol-error"
    expected: ClassVar = {
        "raw-1": {"server_close": "parse error", "server_disconnect": "parse error"},
        "raw-2": {"server_close": "forced close", "server_disconnect": "forced close"},
    }

    def run(self, ctx: LabContext) -> None:
        start_server(ctx)
        url = f"ws://127.0.0.1:{ctx.port}"
        ctx.node("raw_ws", "raw-1", url=url, peer="raw-1", send=["9oops"])
        ctx.wait_for("engine_close", side="server", client_peer="raw-1", timeout=5)
        ctx.node("raw_ws", "raw-2", url=url, peer="raw-2", send=['42["chat", {"broken'])
        ctx.wait_for("engine_close", side="server", client_peer="raw-2", timeout=5)
        ctx.sleep(0.5)


class ClientStalled(Scenario):
    name = "client-stalled"
    description = (
        "Websocket client process frozen with SIGSTOP (the kernel still ACKs) past the "
        "server's ping timeout, then SIGCONT; it notices and reconnects."
    )
    root_cause = "client-stalled"
    time_limit = 30.0
    expected: ClassVar = {"client-*": {"server_close": "ping timeout"}}

    def run(self, ctx: LabContext) -> None:
        start_server(ctx)
        client = start_clients(ctx, "client-1", ["client-1"], **RECONNECT_FAST)
        wait_connected(ctx, ["client-1"])
        wait_upgraded(ctx, ["client-1"])
        ctx.sleep(0.3)
        ctx.stop(client)
        ctx.wait_for("engine_close", side="server", timeout=HEARTBEAT_DEADLINE_S + 2)
        ctx.sleep(1.0)
        ctx.cont(client)
        ctx.wait_for("socket_connect", side="client", peer="client-1", count=2, timeout=10)
        ctx.sleep(1.0)


class ServerStalled(Scenario):
    name = "server-stalled"
    description = (
        f"Server event loop blocked by a busy loop for {STALL_MS} ms (more than pingInterval "
        "+ pingTimeout) while three clients (two websocket, one polling) are connected; "
        "they reconnect."
    )
    root_cause = "server-stalled"
    time_limit = 35.0
    expected: ClassVar = {
        "client-1": {"server_close": "transport error", "client_close": "ping timeout"},
        "client-2": {"server_close": "transport error", "client_close": "ping timeout"},
    }

    def run(self, ctx: LabContext) -> None:
        server = start_server(ctx)
        ws_peers = ["client-1", "client-2"]
        start_clients(ctx, "clients-ws", ws_peers, **RECONNECT_FAST)
        start_clients(ctx, "client-3", ["client-3"], transports=["polling"], **RECONNECT_FAST)
        wait_connected(ctx, [*ws_peers, "client-3"])
        wait_upgraded(ctx, ws_peers)
        ctx.sleep(0.5)
        ctx.send(server, "block", ms=STALL_MS)
        unblock_s = STALL_MS / 1000 + 5
        ctx.wait_for("note", peer="server", text="event loop unblocked", timeout=unblock_s)
        ctx.wait_for("engine_close", side="server", count=3, timeout=8)
        ctx.wait_for("socket_connect", side="client", count=6, timeout=8)
        ctx.sleep(1.0)

    def session_root_cause(self, session: JsonDict) -> str:
        if session["previous_sid"] is None and not _untouched(session):
            return self.root_cause
        return super().session_root_cause(session)


class ServerCrashRestart(LabScenario):
    name = "server-crash-restart"
    description = (
        "Server killed with SIGKILL while a websocket and a polling client are connected; a "
        "new server starts on the same port and the clients reconnect (new sids)."
    )
    root_cause = "server-crash"
    time_limit = 30.0
    expected: ClassVar = {
        "client-1": {"server_close": None, "client_close": "transport close"},
        "client-2": {"server_close": None, "client_close": "transport error"},
    }

    def run(self, ctx: LabContext) -> None:
        server = start_server(ctx)
        self.connect_pair(ctx, **RECONNECT_FAST)
        ctx.kill(server)
        ctx.wait_for("connect_error", count=2, timeout=6)
        start_server(ctx, name="server-2")
        ctx.wait_for("socket_connect", side="server", peer="server-2", count=2, timeout=8)
        ctx.sleep(1.0)

    def session_root_cause(self, session: JsonDict) -> str:
        if session["previous_sid"] is None:
            return self.root_cause
        return super().session_root_cause(session)


class VersionMismatch(Scenario):
    name = "version-mismatch"
    family = "node-v2-client"
    description = (
        "socket.io-client 2.5 (Engine.IO v3) against a socket.io 4.8 server without "
        "allowEIO3: every handshake is refused."
    )
    root_cause = "protocol-mismatch"

    def run(self, ctx: LabContext) -> None:
        start_server(ctx)
        start_clients(
            ctx,
            "client-1",
            ["client-1"],
            lib="v2",
            reconnection=True,
            reconnectionAttempts=2,
            reconnectionDelay=300,
            reconnectionDelayMax=600,
        )
        ctx.wait_for("connection_error", side="server", count=3, timeout=8)
        ctx.sleep(0.8)


#: many-clients: what happens to each client peer.
STAY = peer_labels(1, 10) + peer_labels(33, 34)
LEAVE = peer_labels(11, 15) + peer_labels(31, 32)
KICKED = peer_labels(16, 20)
KILLED = peer_labels(21, 30)


class ManyClients(Scenario):
    name = "many-clients"
    description = (
        "34 clients in four processes (1-10 websocket-only, 31-34 polling-only, the others "
        "upgrading) with mixed fates: 7 disconnect themselves, 5 are kicked by the server, "
        "10 are killed with their process, 12 stay connected until the capture ends."
    )
    root_cause = "client-disconnect"
    time_limit = 40.0

    def run(self, ctx: LabContext) -> None:
        server = start_server(ctx)
        start_clients(ctx, "clients-1-10", peer_labels(1, 10), transports=["websocket"])
        ws_b = start_clients(ctx, "clients-11-20", peer_labels(11, 20))
        ws_c = start_clients(ctx, "clients-21-30", KILLED)
        poll = start_clients(ctx, "clients-31-34", peer_labels(31, 34), transports=["polling"])
        wait_connected(ctx, STAY + LEAVE + KICKED + KILLED, timeout=15)
        ctx.sleep(0.5)
        ctx.send(ws_b, "disconnect", peer=peer_labels(11, 15))
        ctx.send(poll, "disconnect", peer=peer_labels(31, 32))
        ctx.send(server, "kick", peer=KICKED, close=True)
        ctx.sleep(0.5)
        ctx.kill(ws_c)
        ctx.wait_for("engine_close", side="server", count=len(LEAVE + KICKED + KILLED), timeout=8)
        ctx.sleep(1.0)

    def session_root_cause(self, session: JsonDict) -> str:
        fates = {"client-disconnect": LEAVE, "server-disconnect": KICKED, "client-left": KILLED}
        for cause, peers in fates.items():
            if session["peer"] in peers:
                return cause
        return super().session_root_cause(session)


def _untouched(session: JsonDict) -> bool:
    return session["server_close"] is None and session["client_close"] is None
