"""Turn the peers' JSONL event log into a ``sioscope/truth-v1`` document.

Pure functions over already-parsed events: every reason, description and timestamp in the
output was logged by a library handler; the scenario contributes only its metadata, the
root cause it injected, and notes where a library said something other than predicted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from captures.lab.scenario import EXPECTABLE, JsonDict, Scenario

SCHEMA_ID = "sioscope/truth-v1"
SCHEMA_PATH = Path(__file__).resolve().parent / "truth.schema.json"
NOTE_KINDS_KEPT_OUT = {"versions", "settings", "listening"}


@dataclass(frozen=True, slots=True)
class CaptureMeta:
    """Facts about the capture file itself, filled in by the runner."""

    file: str
    server: str
    filter: str
    started_at: float
    ended_at: float
    tls_keylog: str | None = None
    har: str | None = None  # a HAR recorded in the same run, beside the capture


def build_truth(
    events: Iterable[JsonDict], scenario: Scenario, capture: CaptureMeta, lab_notes: list[str]
) -> JsonDict:
    """The truth document for one capture; events after the capture ended are ignored."""
    kept = sorted((e for e in events if e.get("t", 0) <= capture.ended_at), key=_time)
    sessions = _sessions(kept)
    for session in sessions:
        session["root_cause"] = scenario.session_root_cause(session)
    return {
        "schema": SCHEMA_ID,
        "scenario": scenario.name,
        "family": scenario.family,
        "description": scenario.description,
        "root_cause": scenario.root_cause,
        "capture": {
            "file": capture.file,
            "server": capture.server,
            "filter": capture.filter,
            "started_at": capture.started_at,
            "ended_at": capture.ended_at,
            "tls_keylog": capture.tls_keylog,
            **({"har": capture.har} if capture.har is not None else {}),
        },
        "versions": _versions(kept),
        "settings": _settings(kept),
        "sessions": sessions,
        "connect_errors": [_connect_error(e) for e in kept if e["event"] == "connect_error"],
        "connection_errors": [
            _connection_error(e) for e in kept if e["event"] == "connection_error"
        ],
        "notes": lab_notes + _peer_notes(kept) + _surprises(sessions, scenario),
    }


def _time(event: JsonDict) -> float:
    return float(event.get("t", 0.0))


def _close(event: JsonDict | None) -> JsonDict | None:
    if event is None:
        return None
    return {
        "reason": event.get("reason"),
        "description": event.get("description"),
        "at": event["t"],
    }


def _first(events: list[JsonDict], side: str, name: str) -> JsonDict | None:
    return next((e for e in events if e["side"] == side and e["event"] == name), None)


def _sessions(events: list[JsonDict]) -> list[JsonDict]:
    by_sid: dict[str, list[JsonDict]] = {}
    for event in events:
        sid = event.get("sid")
        if isinstance(sid, str) and event["event"] != "note":
            by_sid.setdefault(sid, []).append(event)
    sessions = [_session(sid, evs) for sid, evs in by_sid.items() if _opened(evs)]
    sessions.sort(key=lambda s: (s["opened_at"], s["sid"]))
    _link_previous(sessions)
    return sessions


def _opened(events: list[JsonDict]) -> bool:
    return any(e["event"] == "engine_open" for e in events)


def _session(sid: str, events: list[JsonDict]) -> JsonDict:
    opens = [e for e in events if e["event"] == "engine_open"]
    server_open = _first(events, "server", "engine_open")
    client_open = _first(events, "client", "engine_open")
    upgrades = [e for e in events if e["event"] == "engine_upgrade"]
    transports: list[str] = []
    for event in opens[:1] + upgrades:
        if event.get("transport") and event["transport"] not in transports:
            transports.append(event["transport"])
    return {
        "sid": sid,
        "eio": _eio(server_open, client_open),
        "peer": _peer(server_open, client_open),
        "transports": transports,
        "opened_at": min(e["t"] for e in opens),
        "upgraded_at": min((e["t"] for e in upgrades), default=None),
        "previous_sid": None,
        "server_close": _close(_first(events, "server", "engine_close")),
        "client_close": _close(_first(events, "client", "engine_close")),
        "root_cause": "unknown",
        "sockets": _sockets(events),
    }


def _eio(server_open: JsonDict | None, client_open: JsonDict | None) -> int:
    if server_open is not None and server_open.get("eio") in (3, 4):
        return int(server_open["eio"])
    lib = str(client_open.get("lib", "")) if client_open else ""
    return 3 if lib.startswith(("socket.io-client@2", "engine.io-client@3")) else 4


def _peer(server_open: JsonDict | None, client_open: JsonDict | None) -> str | None:
    if client_open is not None:
        return str(client_open["peer"])
    if server_open is not None and server_open.get("client_peer"):
        return str(server_open["client_peer"])
    return None


def _link_previous(sessions: list[JsonDict]) -> None:
    """A client's previous session is the one it had open before this one (same peer)."""
    last: dict[str, str] = {}
    for session in sessions:
        peer = session["peer"]
        if peer is None:
            continue
        session["previous_sid"] = last.get(peer)
        last[peer] = session["sid"]


def _sockets(events: list[JsonDict]) -> list[JsonDict]:
    """Namespace sockets of one session, matched across sides by (nsp, socket id)."""
    sockets: list[JsonDict] = []
    for event in events:
        kind = event["event"]
        if kind == "socket_connect":
            entry = _socket_entry(sockets, event["nsp"], event.get("socket_id"), create=True)
            if entry["connected_at"] is None:
                entry["connected_at"] = event["t"]
        elif kind == "socket_disconnect":
            entry = _socket_entry(sockets, event["nsp"], event.get("socket_id"), create=True)
            key = f"{event['side']}_disconnect"
            if entry[key] is None:
                entry[key] = _close(event)
        elif kind == "connect_error" and event.get("nsp") is not None:
            entry = _socket_entry(sockets, event["nsp"], None, create=True, unconnected=True)
            entry["connect_error"] = entry["connect_error"] or event.get("message")
    return sockets


def _socket_entry(
    sockets: list[JsonDict], nsp: str, socket_id: Any, *, create: bool, unconnected: bool = False
) -> JsonDict:
    if socket_id is not None and not unconnected:
        # A socket seen by id before wins over a later id-less connect_error entry (a CONNECT
        # the server accepted whose reply never reached the client, e.g. a non-sticky proxy).
        for entry in reversed(sockets):
            if entry["nsp"] == nsp and entry["id"] == socket_id:
                return entry
    for entry in reversed(sockets):
        if entry["nsp"] != nsp:
            continue
        if unconnected and entry["connected_at"] is not None:
            continue
        if socket_id is None or entry["id"] in (None, socket_id):
            if socket_id is not None:
                entry["id"] = socket_id
            return entry
    entry = {
        "nsp": nsp,
        "id": socket_id,
        "connected_at": None,
        "server_disconnect": None,
        "client_disconnect": None,
        "connect_error": None,
    }
    if create:
        sockets.append(entry)
    return entry


def _connect_error(event: JsonDict) -> JsonDict:
    return {
        "peer": event["peer"],
        "nsp": event.get("nsp"),
        "sid": event.get("sid"),
        "message": event.get("message"),
        "data": event.get("data"),
        "description": event.get("description"),
        "at": event["t"],
    }


def _connection_error(event: JsonDict) -> JsonDict:
    return {
        "peer": event.get("client_peer"),
        "code": event.get("code"),
        "message": event.get("message"),
        "context": event.get("context"),
        "at": event["t"],
    }


def _versions(events: list[JsonDict]) -> JsonDict:
    """Package versions each peer reported; a package seen in two versions gets a list."""
    found: dict[str, set[str]] = {}
    for event in events:
        if event["event"] == "note" and event.get("kind") == "versions":
            for name, version in event.get("versions", {}).items():
                found.setdefault(name, set()).add(str(version))
    return {name: (min(v) if len(v) == 1 else sorted(v)) for name, v in sorted(found.items())}


def _settings(events: list[JsonDict]) -> JsonDict:
    """The first server's settings; a note with a ``scope`` (e.g. a proxy) nests under it."""
    settings: JsonDict = {}
    found_unscoped = False
    for event in events:
        if event["event"] != "note" or event.get("kind") != "settings":
            continue
        scope = event.get("scope")
        if isinstance(scope, str):
            settings.setdefault(scope, dict(event.get("settings", {})))
        elif not found_unscoped:
            settings.update(event.get("settings", {}))
            found_unscoped = True
    return settings


def _peer_notes(events: list[JsonDict]) -> list[str]:
    return [
        f"{e['peer']} {e['t']:.3f}: {e.get('text', '')}"
        for e in events
        if e["event"] == "note" and e.get("kind") not in NOTE_KINDS_KEPT_OUT and e.get("text")
    ]


def _reported(session: JsonDict, field: str) -> list[str | None]:
    if field in ("server_close", "client_close"):
        close = session[field]
        return [close["reason"] if close else None]
    return [
        (s[field] or {}).get("reason") for s in session["sockets"] if s["connected_at"] is not None
    ]


def _surprises(sessions: list[JsonDict], scenario: Scenario) -> list[str]:
    """Notes where a library's reason differs from what the lab notes predicted."""
    notes = []
    for session in sessions:
        if session["root_cause"] == "capture-ended":
            continue
        expected = scenario.expectation_for(session["peer"])
        for field in EXPECTABLE:
            if field not in expected:
                continue
            for said in _reported(session, field):
                if said != expected[field]:
                    notes.append(
                        f"surprise: {session['peer']} sid {session['sid']} {field} was "
                        f"{said!r}, lab notes predicted {expected[field]!r}"
                    )
    return notes


@cache
def _schema() -> JsonDict:
    loaded: JsonDict = json.loads(SCHEMA_PATH.read_text())
    return loaded


def validate(truth: JsonDict) -> None:
    """Raise ``jsonschema.ValidationError`` when a truth document breaks the schema."""
    jsonschema.validate(truth, _schema())
