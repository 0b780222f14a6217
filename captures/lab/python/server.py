"""A python-socketio AsyncServer peer (aiohttp, Engine.IO v4) driven by stdin commands.

Arguments: ``--port --peer --pingInterval --pingTimeout`` (ms, as the node peers take them)
``--maxHttpBufferSize --transports --namespaces=[...]``. Commands: ``kick {peer?, nsp?}``
(``sio.disconnect``), ``emit {peer?, nsp?, event, bytes, binary, ack}``, ``exit``.

Engine level: python-engineio's ``disconnect`` handler gets the reason; python-socketio owns
that handler, so it is wrapped (``common.wrap_handler``) rather than replaced.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import socketio
from aiohttp import web

from captures.lab.python import common

JsonDict = common.JsonDict


class LabServer:
    """The server, its hooks, and what it remembers about sessions for the log."""

    def __init__(self, args: JsonDict) -> None:
        self.args = args
        self.peer_name = str(args.get("peer", "server"))
        self.log = common.EventLog("server", self.peer_name)
        self.namespaces: list[str] = list(args.get("namespaces", ["/"]))
        self.sio = socketio.AsyncServer(async_mode="aiohttp", **self._options())
        self.client_peer: dict[str, str | None] = {}  # engine sid -> client label
        self.socket_sessions: dict[tuple[str, str], str] = {}  # (nsp, socket id) -> engine sid
        self.tasks: set[asyncio.Task[None]] = set()
        self._hook_engine()
        for nsp in self.namespaces:
            self._hook_namespace(nsp)

    def _options(self) -> JsonDict:
        opts: JsonDict = {"cors_allowed_origins": "*"}
        if "pingInterval" in self.args:
            opts["ping_interval"] = self.args["pingInterval"] / 1000
        if "pingTimeout" in self.args:
            opts["ping_timeout"] = self.args["pingTimeout"] / 1000
        if "maxHttpBufferSize" in self.args:
            opts["max_http_buffer_size"] = self.args["maxHttpBufferSize"]
        if "transports" in self.args:
            opts["transports"] = self.args["transports"]
        return opts

    def settings(self) -> JsonDict:
        eio = self.sio.eio
        return {
            "pingInterval": int(eio.ping_interval * 1000),
            "pingTimeout": int(eio.ping_timeout * 1000),
            "maxHttpBufferSize": eio.max_http_buffer_size,
            "transports": list(eio.transports),
            "allowUpgrades": eio.allow_upgrades,
            "httpCompression": eio.http_compression,
        }

    # -- engine level -------------------------------------------------------------------

    def _hook_engine(self) -> None:
        handlers = self.sio.eio.handlers
        handlers["connect"] = common.wrap_handler(handlers.get("connect"), self._engine_open)
        handlers["disconnect"] = common.wrap_handler(handlers.get("disconnect"), self._engine_close)

    def _engine_open(self, sid: str, environ: JsonDict, *_: Any) -> None:
        query = str(environ.get("QUERY_STRING", ""))
        label = common.query_param(query, "peer")
        transport = common.query_param(query, "transport")
        self.client_peer[sid] = label
        eio = self.sio.eio
        self.log(
            "engine_open",
            sid=sid,
            transport=transport,
            eio=4,  # python-engineio 4.x refuses every other EIO version
            client_peer=label,
            pingInterval=int(eio.ping_interval * 1000),
            pingTimeout=int(eio.ping_timeout * 1000),
        )
        if transport == "polling":
            self._spawn(self._watch_upgrade(sid, label))

    async def _watch_upgrade(self, sid: str, label: str | None) -> None:
        def state() -> Any:
            return self.sio.eio.sockets.get(sid)

        def current() -> str | None:
            sock = state()
            return None if sock is None else ("websocket" if sock.upgraded else "polling")

        def alive() -> bool:
            sock = state()
            return sock is not None and not sock.closed

        def upgraded(transport: str) -> None:
            self.log("engine_upgrade", sid=sid, transport=transport, client_peer=label)

        await common.watch_transport(current, alive, upgraded)

    def _engine_close(self, sid: str, reason: Any = None, *_: Any) -> None:
        self.log(
            "engine_close",
            sid=sid,
            reason=reason,
            description=None,
            client_peer=self.client_peer.get(sid),
        )

    # -- socket level -------------------------------------------------------------------

    def _hook_namespace(self, nsp: str) -> None:
        async def connect(sid: str, environ: JsonDict, auth: Any = None) -> None:
            eio_sid = self.sio.manager.eio_sid_from_sid(sid, nsp)
            self.socket_sessions[(nsp, sid)] = eio_sid
            self.log(
                "socket_connect",
                sid=eio_sid,
                nsp=nsp,
                socket_id=sid,
                recovered=None,
                client_peer=self.client_peer.get(eio_sid),
            )

        async def disconnect(sid: str, reason: Any = None) -> None:
            eio_sid = self.socket_sessions.get((nsp, sid))
            self.log(
                "socket_disconnect",
                sid=eio_sid,
                nsp=nsp,
                socket_id=sid,
                reason=reason,
                description=None,
                client_peer=self.client_peer.get(eio_sid or ""),
            )

        async def upload(sid: str, data: Any) -> tuple[JsonDict, bytes]:
            size = len(data) if isinstance(data, (bytes, str)) else len(common.summarize(data))
            return {"received": size}, bytes([1, 2, 3, size & 0xFF])

        async def echo(sid: str, data: Any) -> Any:
            return data

        self.sio.on("connect", connect, namespace=nsp)
        self.sio.on("disconnect", disconnect, namespace=nsp)
        self.sio.on("upload", upload, namespace=nsp)
        self.sio.on("echo", echo, namespace=nsp)

    # -- commands -----------------------------------------------------------------------

    def _selected(self, cmd: JsonDict) -> list[tuple[str, str]]:
        """(nsp, socket id) pairs matching a command's optional ``peer`` and ``nsp``."""
        wanted = cmd.get("peer")
        labels = None if wanted is None else ([wanted] if isinstance(wanted, str) else wanted)
        found = []
        for (nsp, sid), eio_sid in self.socket_sessions.items():
            if cmd.get("nsp") not in (None, nsp):
                continue
            if labels is None or self.client_peer.get(eio_sid) in labels:
                found.append((nsp, sid))
        return found

    async def handle(self, cmd: JsonDict) -> bool:
        name = cmd.get("cmd")
        if name == "kick":
            for nsp, sid in self._selected(cmd):
                await self.sio.disconnect(sid, namespace=nsp)
        elif name == "emit":
            for nsp, sid in self._selected(cmd):
                await self._emit(nsp, sid, cmd)
        elif name == "exit":
            return False
        else:
            self.log.note(f"unknown command {name}")
        return True

    async def _emit(self, nsp: str, sid: str, cmd: JsonDict) -> None:
        size = int(cmd.get("bytes", 16))
        data: Any = b"\xab" * size if cmd.get("binary") else "x" * size
        event = str(cmd.get("event", "download"))

        def acked(*reply: Any) -> None:
            self.log.note(f"ack from {sid}: {common.summarize(reply)}")

        callback = acked if cmd.get("ack") else None
        await self.sio.emit(event, data, to=sid, namespace=nsp, callback=callback)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def serve(self) -> None:
        app = web.Application()
        self.sio.attach(app)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", int(self.args["port"]))
        await site.start()
        self.log("note", kind="versions", versions=common.versions())
        self.log("note", kind="settings", settings=self.settings())
        self.log("note", kind="listening", port=int(self.args["port"]))
        await common.run_commands(self.handle, self.log)
        await runner.cleanup()


def main() -> None:
    asyncio.run(LabServer(common.parse_args(sys.argv[1:])).serve())


if __name__ == "__main__":
    main()
