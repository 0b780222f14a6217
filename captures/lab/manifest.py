"""``captures/manifest.json``: one summary entry per capture, derived from its truth file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from captures.lab.scenario import JsonDict

MANIFEST_SCHEMA = "sioscope/manifest-v1"


def _reason(close: JsonDict | None) -> str | None:
    return None if close is None else close.get("reason")


def entry(truth: JsonDict) -> JsonDict:
    """The manifest line of one truth document: reasons per session at both levels."""
    return {
        "file": truth["capture"]["file"],
        "truth": f"{truth['scenario']}.truth.json",
        "scenario": truth["scenario"],
        "family": truth["family"],
        "description": truth["description"],
        "root_cause": truth["root_cause"],
        "versions": truth["versions"],
        "sessions": [
            {
                "sid": s["sid"],
                "peer": s["peer"],
                "root_cause": s["root_cause"],
                "server_reason": _reason(s["server_close"]),
                "client_reason": _reason(s["client_close"]),
                "sockets": [
                    {
                        "nsp": k["nsp"],
                        "server_reason": _reason(k["server_disconnect"]),
                        "client_reason": _reason(k["client_disconnect"]),
                        "connect_error": k["connect_error"],
                    }
                    for k in s["sockets"]
                ],
            }
            for s in truth["sessions"]
        ],
    }


def load(path: Path) -> list[JsonDict]:
    if not path.exists():
        return []
    data: Any = json.loads(path.read_text())
    captures: list[JsonDict] = data.get("captures", [])
    return captures


def update(path: Path, truth: JsonDict) -> None:
    """Replace (or add) the entry for this truth's capture; keep entries sorted by file."""
    new = entry(truth)
    entries = [e for e in load(path) if e.get("file") != new["file"]] + [new]
    entries.sort(key=lambda e: str(e["file"]))
    doc = {"schema": MANIFEST_SCHEMA, "captures": entries}
    path.write_text(json.dumps(doc, indent=2) + "\n")
