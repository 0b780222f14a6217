"""A python-socketio AsyncClient peer driven by stdin commands.

Arguments: ``--url --peer --transports --namespaces=[...] --reconnection --waitTimeout``.
The peer label travels as the ``peer`` query parameter. Commands: ``disconnect``
(``sio.disconnect()``: python-socketio has no per-namespace disconnect),
``emit {nsp, event, bytes, binary, ack}``, ``exit``.

Engine level: the python-engineio client's ``disconnect`` handler gets the reason; it is
wrapped (``common.wrap_handler``) because python-socketio owns it.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import socketio

from captures.lab.python import common

JsonDict = common.JsonDict


class LabClient:
    """One client peer: a socketio.AsyncClient, its hooks and its command handler."""

    def __init__(self, args: JsonDict) -> None:
        self.args = args
        self.peer = str(args.get("peer", "client-1"))
        self.log = common.EventLog("client", self.peer)
        self.namespaces: list[str] = list(args.get("namespaces", ["/"]))
        self.sio = socketio.AsyncClient(reconnection=bool(args.get("reconnection", False)))
        self.engine_sid: str | None = None
        self.socket_ids: dict[str, str | None] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._hook_engine()
        for nsp in self.namespaces:
            self._hook_namespace(nsp)

    # -- engine level -------------------------------------------------------------------

    def _hook_engine(self) -> None:
        handlers = self.sio.eio.handlers
        handlers["connect"] = common.wrap_handler(handlers.get("connect"), self._engine_open)
        handlers["disconnect"] = common.wrap_handler(handlers.get("disconnect"), self._engine_close)

    def _engine_open(self, *_: Any) -> None:
        eio = self.sio.eio
        self.engine_sid = eio.sid
        self.log(
            "engine_open",
            sid=eio.sid,
            transport=eio.current_transport,
            pingInterval=int(eio.ping_interval * 1000),
            pingTimeout=int(eio.ping_timeout * 1000),
        )
        if eio.current_transport == "polling":
            task = asyncio.ensure_future(self._watch_upgrade(eio.sid))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _watch_upgrade(self, sid: str) -> None:
        eio = self.sio.eio

        def current() -> str | None:
            return str(eio.current_transport) if eio.sid == sid else None

        def alive() -> bool:
            return bool(eio.sid == sid and eio.state == "connected")

        def upgraded(transport: str) -> None:
            self.log("engine_upgrade", sid=sid, transport=transport)

        await common.watch_transport(current, alive, upgraded)

    def _engine_close(self, reason: Any = None, *_: Any) -> None:
        self.log("engine_close", sid=self.engine_sid, reason=reason, description=None)

    # -- socket level -------------------------------------------------------------------

    def _hook_namespace(self, nsp: str) -> None:
        async def connect() -> None:
            self.socket_ids[nsp] = self.sio.get_sid(nsp)
            self.log(
                "socket_connect",
                sid=self.engine_sid,
                nsp=nsp,
                socket_id=self.socket_ids[nsp],
                recovered=None,
            )

        async def disconnect(reason: Any = None) -> None:
            self.log(
                "socket_disconnect",
                sid=self.engine_sid,
                nsp=nsp,
                socket_id=self.socket_ids.get(nsp),
                reason=reason,
                description=None,
            )

        async def connect_error(data: Any = None) -> None:
            message = data.get("message") if isinstance(data, dict) else common.describe(data)
            self.log(
                "connect_error",
                sid=self.engine_sid,
                nsp=nsp,
                message=message,
                data=data if isinstance(data, (dict, list, str)) else None,
                description=None,
            )

        async def download(data: Any) -> tuple[JsonDict, bytes]:
            return {"got": len(data) if isinstance(data, (bytes, str)) else 0}, bytes([9, 8, 7])

        self.sio.on("connect", connect, namespace=nsp)
        self.sio.on("disconnect", disconnect, namespace=nsp)
        self.sio.on("connect_error", connect_error, namespace=nsp)
        self.sio.on("download", download, namespace=nsp)

    # -- commands -----------------------------------------------------------------------

    async def handle(self, cmd: JsonDict) -> bool:
        name = cmd.get("cmd")
        if name == "disconnect":
            await self.sio.disconnect()
        elif name == "emit":
            await self._emit(cmd)
        elif name == "exit":
            return False
        else:
            self.log.note(f"unknown command {name}")
        return True

    async def _emit(self, cmd: JsonDict) -> None:
        size = int(cmd.get("bytes", 16))
        data: Any = b"\xcd" * size if cmd.get("binary") else "y" * size
        event = str(cmd.get("event", "upload"))

        def acked(*reply: Any) -> None:
            self.log.note(f"ack for {event}: {common.summarize(reply)}")

        callback = acked if cmd.get("ack") else None
        await self.sio.emit(event, data, namespace=cmd.get("nsp", "/"), callback=callback)

    async def run(self) -> None:
        self.log("note", kind="versions", versions=common.versions())
        url = f"{self.args['url']}?peer={self.peer}"
        options: JsonDict = {"namespaces": self.namespaces}
        if "transports" in self.args:
            options["transports"] = self.args["transports"]
        try:
            await self.sio.connect(
                url, wait_timeout=float(self.args.get("waitTimeout", 5)), **options
            )
        except socketio.exceptions.ConnectionError as exc:
            self.log.note(f"connect failed: {common.describe(exc)}")
        await common.run_commands(self.handle, self.log)


def main() -> None:
    asyncio.run(LabClient(common.parse_args(sys.argv[1:])).run())


if __name__ == "__main__":
    main()
