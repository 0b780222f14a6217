"""Something between the peers: nginx in front of socket.io 4.8 servers, and TLS (wss).

The capture always watches the client-facing port (client <-> nginx, or the TLS port), so
each Engine.IO session appears once; the servers behind nginx listen on other ports. nginx
runs as one foreground process with its config, pid file and logs in the run's work
directory; ``node/proxy_info.js`` reports its version and the directives used as settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from captures.lab.sandbox import NODE_DIR, LabError
from captures.lab.scenario import JsonDict, LabContext, Peer, Scenario
from captures.lab.scenarios.helpers import (
    CLIENT_LEAVES,
    PING_INTERVAL_MS,
    PING_TIMEOUT_MS,
    RECONNECT_FAST,
    json_flags,
    start_clients,
    start_server,
    wait_connected,
    wait_upgraded,
)

TEMPLATE = Path(__file__).resolve().parents[1] / "nginx" / "proxy.conf.tmpl"
NGINX_READY_S = 5.0
#: What a working websocket proxy needs; the scenarios below leave parts of it out.
WEBSOCKET_HEADERS = (
    "proxy_http_version 1.1",
    "proxy_set_header Upgrade $http_upgrade",
    'proxy_set_header Connection "upgrade"',
)


# -- nginx ------------------------------------------------------------------------------


def render_nginx_conf(listen_port: int, backends: Sequence[int], directives: Sequence[str]) -> str:
    """The nginx config for one scenario: round-robin upstream, one proxied location."""
    upstream = "\n".join(f"        server 127.0.0.1:{port};" for port in backends)
    location = "\n".join(f"            {directive};" for directive in directives)
    text = TEMPLATE.read_text()
    for key, value in (
        ("@LISTEN@", f"127.0.0.1:{listen_port}"),
        ("@UPSTREAM_SERVERS@", upstream),
        ("@PROXY_DIRECTIVES@", location),
    ):
        text = text.replace(key, value)
    return text


def nginx_settings(
    listen_port: int, backends: Sequence[int], directives: Sequence[str]
) -> JsonDict:
    """The directives as the truth's ``settings.nginx`` records them."""
    return {
        "listen": f"127.0.0.1:{listen_port}",
        "upstream": [f"server 127.0.0.1:{port}" for port in backends],
        "balancing": "round-robin (no ip_hash, no hash, no sticky)",
        "location /": ["proxy_pass http://socketio", *directives],
    }


def start_nginx(ctx: LabContext, backends: Sequence[int], directives: Sequence[str]) -> Peer:
    """Write the config into the work dir, start nginx, wait until its pid file exists."""
    prefix = ctx.work_path("nginx")
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(render_nginx_conf(ctx.port, backends, directives))
    settings = nginx_settings(ctx.port, backends, directives)
    ctx.node("proxy_info", "nginx-info", peer="nginx", settings=settings)
    argv = ["nginx", "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "error.log")]
    nginx = ctx.spawn(argv, "nginx")
    _wait_for_file(ctx, prefix / "nginx.pid", NGINX_READY_S)
    ctx.wait_for("note", kind="settings", peer="nginx", timeout=5)
    return nginx


def _wait_for_file(ctx: LabContext, path: Path, timeout: float) -> None:
    """nginx writes its pid file once it listens: that is the moment to go on."""
    waited = 0.0
    while not path.exists():
        if waited > timeout:
            raise LabError(f"nginx did not start (no {path.name}); see its error.log")
        ctx.sleep(0.05)
        waited += 0.05


def start_backend(ctx: LabContext, name: str, port: int, **opts: Any) -> Peer:
    """A socket.io 4.8 server behind nginx, on a port the capture does not watch."""
    return start_server(ctx, name, port=port, **opts)


# -- scenarios ----------------------------------------------------------------------------


class NginxIdleTimeout(Scenario):
    name = "nginx-idle-timeout"
    family = "nginx"
    description = (
        "nginx proxy_read_timeout/proxy_send_timeout 1500ms, below the 3000 ms pingInterval: "
        "nginx closes every idle websocket 1.5 s after its last frame; three clients "
        "reconnect and are cut again."
    )
    root_cause = "proxy-timeout"
    port = 3100
    time_limit = 30.0
    backend_port = 3101
    directives = (*WEBSOCKET_HEADERS, "proxy_read_timeout 1500ms", "proxy_send_timeout 1500ms")
    expected: ClassVar = {
        "client-*": {
            "server_close": "transport close",
            "client_close": "transport close",
            "server_disconnect": "transport close",
            "client_disconnect": "transport close",
        }
    }

    def run(self, ctx: LabContext) -> None:
        start_backend(ctx, "server", self.backend_port, pingInterval=3000, pingTimeout=2000)
        start_nginx(ctx, [self.backend_port], self.directives)
        start_clients(ctx, "clients-1-2", ["client-1", "client-2"], **RECONNECT_FAST)
        start_clients(ctx, "client-3", ["client-3"], transports=["websocket"], **RECONNECT_FAST)
        peers = ["client-1", "client-2", "client-3"]
        wait_connected(ctx, peers)
        ctx.wait_for("socket_connect", side="client", peer=peers, count=9, timeout=15)
        ctx.sleep(0.5)


class NginxNoSticky(Scenario):
    name = "nginx-no-sticky"
    family = "nginx"
    description = (
        "Two socket.io servers behind one nginx upstream, round robin without sticky "
        "sessions: polling requests of a session reach the other server (400 'Session ID "
        "unknown') and the clients reconnect in a loop."
    )
    root_cause = "session-unknown"
    port = 3110
    time_limit = 30.0
    backend_ports = (3111, 3112)
    directives = WEBSOCKET_HEADERS
    retry: ClassVar[dict[str, Any]] = {
        "reconnection": True,
        "reconnectionDelay": 800,
        "reconnectionDelayMax": 1500,
    }
    expected: ClassVar = {"client-*": {"client_close": "transport error"}}

    def run(self, ctx: LabContext) -> None:
        for name, port in zip(("server-a", "server-b"), self.backend_ports, strict=True):
            start_backend(ctx, name, port)
        start_nginx(ctx, self.backend_ports, self.directives)
        polling = ["client-1", "client-2"]
        start_clients(ctx, "clients-polling", polling, transports=["polling"], **self.retry)
        start_clients(ctx, "client-3", ["client-3"], **self.retry)
        ctx.wait_for("connection_error", side="server", count=6, timeout=15)
        # Sessions the clients abandoned on the other server time out there.
        ctx.wait_for("engine_close", side="server", reason="ping timeout", count=2, timeout=10)
        ctx.sleep(0.5)


class NginxUpgradeStripped(Scenario):
    name = "nginx-upgrade-stripped"
    family = "nginx"
    description = (
        "nginx proxies HTTP/1.1 without passing the Upgrade/Connection headers: the "
        "websocket upgrade reaches the server as a plain GET (400 code 3), two clients stay "
        "on polling and then disconnect; a websocket-only client never connects."
    )
    root_cause = "upgrade-failed"
    port = 3120
    time_limit = 30.0
    backend_port = 3121
    directives = ("proxy_http_version 1.1",)
    expected: ClassVar = {"client-[12]": CLIENT_LEAVES}

    def run(self, ctx: LabContext) -> None:
        start_backend(ctx, "server", self.backend_port)
        start_nginx(ctx, [self.backend_port], self.directives)
        stay = ["client-1", "client-2"]
        clients = start_clients(ctx, "clients-1-2", stay)
        start_clients(
            ctx,
            "client-3",
            ["client-3"],
            transports=["websocket"],
            reconnectionAttempts=2,
            **RECONNECT_FAST,
        )
        wait_connected(ctx, stay)
        ctx.wait_for("connect_error", peer="client-3", count=3, timeout=10)
        ctx.wait_for("connection_error", side="server", count=5, timeout=5)
        ctx.sleep(2.0)  # a heartbeat or two on polling after the failed upgrade
        ctx.send(clients, "disconnect")
        ctx.wait_for("engine_close", side="server", count=2, timeout=5)
        ctx.sleep(0.5)

    def session_root_cause(self, session: JsonDict) -> str:
        """The sessions survive the failed upgrade and end when their client leaves."""
        if super().session_root_cause(session) == "capture-ended":
            return "capture-ended"
        return "client-disconnect"


class TlsKeylog(Scenario):
    name = "tls-keylog"
    family = "tls"
    description = (
        "socket.io 4.8 over HTTPS/wss with a throwaway self-signed certificate; the server "
        "writes a TLS key log (tls-keylog.keys) to decrypt the capture. A websocket client "
        "and a polling client exchange acks, then disconnect."
    )
    root_cause = "client-disconnect"
    port = 3130
    time_limit = 25.0
    tls_keylog = "tls.keys"
    expected: ClassVar = {"client-*": CLIENT_LEAVES}

    def run(self, ctx: LabContext) -> None:
        cert_dir = ctx.work_path("tls")
        server = self._start_server(ctx, cert_dir)
        env = {"NODE_EXTRA_CA_CERTS": str(cert_dir / "cert.pem")}
        url = f"https://127.0.0.1:{self.port}"
        ws = ctx.spawn(_node_argv("client", url=url, peers=["client-1"]), "client-1", env)
        polling_args = {"url": url, "peers": ["client-2"], "transports": ["polling"]}
        polling = ctx.spawn(_node_argv("client", **polling_args), "client-2", env)
        wait_connected(ctx, ["client-1", "client-2"])
        wait_upgraded(ctx, ["client-1"])
        for client in (ws, polling):
            ctx.send(client, "emit", event="echo", bytes=40, ack=True)
        ctx.send(server, "emit", event="download", bytes=64, binary=True, ack=True)
        ctx.wait_for("note", peer=["client-1", "client-2", "server"], count=4, timeout=5)
        ctx.sleep(0.3)
        for client in (ws, polling):
            ctx.send(client, "disconnect")
        ctx.wait_for("engine_close", side="server", count=2, timeout=5)
        ctx.sleep(0.5)

    def _start_server(self, ctx: LabContext, cert_dir: Path) -> Peer:
        keylog = ctx.work_path(self.tls_keylog or "tls.keys")
        flags = [f"--tls-keylog={keylog}"]
        argv = _node_argv(
            "tls_server",
            node_flags=flags,
            certDir=str(cert_dir),
            port=self.port,
            peer="server",
            pingInterval=PING_INTERVAL_MS,
            pingTimeout=PING_TIMEOUT_MS,
        )
        server = ctx.spawn(argv, "server")
        ctx.wait_for("note", kind="listening", peer="server", timeout=15)
        return server


def _node_argv(script: str, node_flags: Sequence[str] = (), **args: Any) -> list[str]:
    """``node [flags] node/<script>.js --key=<json>``, the argument style of ``ctx.node``."""
    return ["node", *node_flags, str(NODE_DIR / f"{script}.js"), *json_flags(args)]


SCENARIOS: tuple[Scenario, ...] = (
    NginxIdleTimeout(),
    NginxNoSticky(),
    NginxUpgradeStripped(),
    TlsKeylog(),
)
