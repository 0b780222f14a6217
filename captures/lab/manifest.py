"""``captures/manifest.json``: one summary entry per capture, derived from its truth file."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
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


def _entries(truth: JsonDict) -> list[JsonDict]:
    """The entry of a truth's capture, and one for the HAR recorded in the same run."""
    first = entry(truth)
    har = truth["capture"].get("har")
    return [first] if har is None else [first, {**first, "file": har}]


def update(path: Path, truth: JsonDict) -> None:
    """Rewrite the manifest from every truth file beside it, with `truth` taking precedence.

    Rebuilding from the truth files (instead of editing the previous manifest) keeps the
    manifest right when several lab runs finish at once; the write is atomic.
    """
    entries: dict[str, JsonDict] = {}
    for truth_path in sorted(path.parent.glob("*.truth.json")):
        with contextlib.suppress(ValueError, KeyError):
            for item in _entries(json.loads(truth_path.read_text())):
                entries[str(item["file"])] = item
    for item in _entries(truth):
        entries[str(item["file"])] = item
    doc = {"schema": MANIFEST_SCHEMA, "captures": [entries[k] for k in sorted(entries)]}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".manifest.", suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)
