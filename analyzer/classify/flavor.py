"""Which library each side runs, read off the handshake, so reasons use its words."""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.model import Session, timeline_digest
from analyzer.reasons import NODE_CLIENT, NODE_SERVER, PYTHON_CLIENT, PYTHON_SERVER, Vocabulary

PYTHON_MARKERS = ("python", "aiohttp", "uvicorn", "hypercorn", "werkzeug", "eventlet", "gunicorn")
PROXY_MARKERS = ("nginx", "haproxy", "envoy", "apache", "cloudflare", "caddy", "traefik")


@dataclass(frozen=True, slots=True)
class Flavors:
    server: Vocabulary
    client: Vocabulary
    proxy: str | None  # a reverse proxy named by the Server header
    raw_client: bool  # the client is no socket.io library (it sent what no library sends)

    @property
    def python_server(self) -> bool:
        return self.server is PYTHON_SERVER

    @property
    def python_client(self) -> bool:
        return self.client is PYTHON_CLIENT


def flavors_of(session: Session) -> Flavors:
    server_hdr = (session.server_software or "").lower()
    agent = (session.user_agent or "").lower()
    server = PYTHON_SERVER if any(m in server_hdr for m in PYTHON_MARKERS) else NODE_SERVER
    client = PYTHON_CLIENT if any(m in agent for m in PYTHON_MARKERS) else NODE_CLIENT
    proxy = next((m for m in PROXY_MARKERS if m in server_hdr), None)
    malformed = timeline_digest(session).malformed
    raw = any(e.side is not None and e.side.value == "client" for e in malformed)
    return Flavors(server, client, proxy, raw)
