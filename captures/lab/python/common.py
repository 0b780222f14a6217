"""Shared helpers of the python peers: the LAB_EVENTS logger, arguments, stdin commands.

The python twin of ``node/common.js``. Truth rule: hooks only copy what python-socketio
and python-engineio pass to their handlers (or expose as session state); nothing here
decides why a session ended.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from importlib import metadata
from typing import Any

JsonDict = dict[str, Any]
#: How often the upgrade watchers look at a session's transport (python-engineio emits
#: no "upgrade" event, so the switch is observed, with at most this delay).
UPGRADE_POLL_S = 0.02
MAX_COMMAND_LINE = 64 * 1024


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def lib_label(name: str = "python-socketio") -> str:
    return f"{name}@{package_version(name)}"


def versions() -> dict[str, str]:
    """Versions every python peer reports in its ``versions`` note."""
    found = {"python": sys.version.split()[0]}
    for name in ("python-socketio", "python-engineio", "aiohttp"):
        found[name] = package_version(name)
    return found


class EventLog:
    """Appends one JSON line per event to $LAB_EVENTS, unbuffered, so SIGKILL loses nothing."""

    def __init__(self, side: str, peer: str, lib: str | None = None) -> None:
        path = os.environ.get("LAB_EVENTS")
        if not path:
            raise SystemExit("LAB_EVENTS is not set")
        self.path = path
        self.side = side
        self.peer = peer
        self.lib = lib or lib_label()

    def __call__(self, event: str, who: str | None = None, **fields: Any) -> None:
        record = {
            "t": time.time(),
            "side": self.side,
            "peer": who or self.peer,
            "lib": self.lib,
            "event": event,
            **fields,
        }
        line = (json.dumps(record, default=describe) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def note(self, text: str) -> None:
        self("note", text=text)


def parse_args(argv: list[str]) -> JsonDict:
    """``--key=value`` arguments; values are JSON when they parse as JSON (as in node)."""
    out: JsonDict = {}
    for arg in argv:
        if not arg.startswith("--"):
            raise SystemExit(f"bad argument: {arg}")
        key, sep, raw = arg[2:].partition("=")
        if not sep:
            out[key] = True
            continue
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def describe(value: Any) -> str | None:
    """A string (or None) for whatever a library passed as detail."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    try:
        return json.dumps(value, default=repr)
    except (TypeError, ValueError):
        return repr(value)


def summarize(value: Any) -> str:
    """Short JSON text of ack arguments for notes; bytes shown by their length."""
    return json.dumps(value, default=describe)


def query_param(query_string: str, name: str) -> str | None:
    """One query parameter of a handshake (the client peer label travels there)."""
    from urllib.parse import parse_qs

    values = parse_qs(query_string).get(name)
    return values[0] if values else None


async def stdin_commands() -> AsyncIterator[JsonDict]:
    """JSON command lines the runner writes to stdin, until stdin closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_COMMAND_LINE)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        try:
            cmd = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(cmd, dict):
            yield cmd


async def run_commands(handler: Callable[[JsonDict], Awaitable[bool]], log: EventLog) -> None:
    """Feed every command to ``handler``; it returns False to stop the peer."""
    async for cmd in stdin_commands():
        try:
            if not await handler(cmd):
                return
        except Exception as exc:  # a failed command becomes a note, not a crash
            log.note(f"command {cmd.get('cmd')} failed: {describe(exc)}")
    await asyncio.Event().wait()  # stdin closed: keep running until killed


def wrap_handler(
    original: Callable[..., Any] | None, before: Callable[..., None]
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """A coroutine handler that logs (``before``) then runs the library's own handler.

    python-socketio registers its engine handlers on ``sio.eio``; registering ours with
    ``eio.on`` would replace them, so ours wraps theirs and passes the result back.
    """

    async def wrapped(*args: Any) -> Any:
        before(*args)
        if original is None:
            return None
        result = original(*args)
        if asyncio.iscoroutine(result):
            return await result
        return result

    return wrapped


async def watch_transport(
    current: Callable[[], str | None], alive: Callable[[], bool], on_change: Callable[[str], None]
) -> None:
    """Call ``on_change`` once when ``current()`` leaves its first value (an upgrade)."""
    first = current()
    while alive():
        now = current()
        if now is not None and now != first:
            on_change(now)
            return
        await asyncio.sleep(UPGRADE_POLL_S)
