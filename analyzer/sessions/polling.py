"""HTTP long-polling: handshakes, GET and POST payloads, failed and refused requests."""

from __future__ import annotations

from analyzer.core import Side
from analyzer.engineio import (
    EioPacket,
    EioPacketType,
    EioQuery,
    decode_polling_body,
    is_engineio_request,
    parse_error_response,
    parse_query,
)
from analyzer.model import EngineClose, HttpFailure, Layer
from analyzer.sessions.core import BuilderCore, app_query
from analyzer.sessions.packets import apply_eio, describe
from analyzer.sessions.state import Observation, SessionState
from analyzer.transport import (
    HttpExchange,
    header,
)

# Bound once: enum lookups through the class are slow, and these run for every request.
_CLIENT, _SERVER, _HTTP = Side.CLIENT, Side.SERVER, Layer.HTTP


class PollingHandling(BuilderCore):
    """Applies polling exchanges to sessions, tied by the sid in the URL, never by port."""

    def _exchange(self, ex: HttpExchange) -> None:
        query = parse_query(ex.request.target)
        if not is_engineio_request(query):
            self._page_load(ex)
            return
        if ex.request.ts_ns > self._now:  # _advance, inlined: this runs for every request
            self._now = ex.request.ts_ns
        if query.transport == "websocket":
            self._upgrade_refused(ex, query)
        elif query.sid is None:
            self._handshake(ex, query)
        else:
            state = self._session_for_request(ex, query)
            if state is not None:
                self._polling(state, ex, query)

    def _page_load(self, ex: HttpExchange) -> None:
        """An HTML document fetched beside the sessions: a page (re)loading in a browser."""
        resp = ex.response
        ctype = header(resp.headers, "content-type") if resp is not None else None
        if ex.request.method == "GET" and ctype is not None and ctype.startswith("text/html"):
            text = f"page loaded: GET {ex.request.target[:120]}"
            self.observations.append(
                Observation("page-load", ex.request.ts_ns, None, ex.client, text)
            )

    def _handshake(self, ex: HttpExchange, query: EioQuery) -> None:
        resp = ex.response
        if resp is None or resp.status != 200:
            self._failed_handshake(ex, query)
            return
        decoded = decode_polling_body(
            resp.body, query.eio or 4, header(resp.headers, "content-type")
        )
        packets = list(decoded.packets)
        if not packets or packets[0].type is not EioPacketType.OPEN:
            self._diag(
                "handshake-without-open",
                f"conn {ex.conn}",
                "polling handshake answered without an open packet: "
                + describe(resp.body.decode("utf-8", "replace")),
            )
            return
        state = self._open_session(
            packets[0], query, ex.client, ex.server, resp.ts_ns, ex.conn, "polling"
        )
        if state is None:
            return
        state.user_agent = header(ex.request.headers, "user-agent")
        state.query = app_query(query)
        state.server_software = header(resp.headers, "server")
        state.note(
            ex.request.ts_ns,
            Side.CLIENT,
            Layer.HTTP,
            "handshake-request",
            f"GET handshake EIO={query.eio} transport=polling",
            ex.conn,
            ex.request.target,
        )
        self._bind_conn(state, ex.conn, "polling", ex.request.ts_ns)
        for packet in packets[1:]:
            self._apply(
                state, Side.SERVER, resp.end_ns, packet, ex.conn, resp.end_offset, "polling"
            )
        if decoded.error:
            self._malformed_payload(state, Side.SERVER, resp.end_ns, decoded.error, ex.conn)

    def _session_for_request(self, ex: HttpExchange, query: EioQuery) -> SessionState | None:
        sid = query.sid or ""
        state = self._sessions.get(sid)
        if state is not None:
            return state
        failure = self._failure(ex, query)
        if sid in self._finished:
            text = f"{ex.request.method} for sid {sid} after the session had ended"
            self.observations.append(
                Observation("late-request", ex.request.ts_ns, sid, ex.client, text)
            )
            return None
        if failure is not None and failure.status is not None and failure.status >= 400:
            text = f"{ex.request.method} sid={sid} answered {failure.status} {failure.message!r}"
            self.observations.append(
                Observation("session-unknown", ex.request.ts_ns, sid, ex.client, text)
            )
            return None
        # The capture started after this session's handshake: follow it from here.
        state = SessionState(
            sid,
            query.eio,
            ex.client,
            ex.server,
            ex.request.ts_ns,
            handshake_seen=False,
            last_seen_ns=ex.request.ts_ns,
        )
        state.add_transport("polling")
        state.note(
            ex.request.ts_ns,
            None,
            Layer.EIO,
            "midstream",
            "capture starts inside this session (no handshake seen)",
            ex.conn,
        )
        if not self._track(state):
            return None
        return state

    def _polling(self, state: SessionState, ex: HttpExchange, query: EioQuery) -> None:
        req, resp = ex.request, ex.response
        self._bind_conn(state, ex.conn, "polling", req.ts_ns)
        if req.ts_ns > state.last_seen_ns:  # state.touch, inlined: this runs for every request
            state.last_seen_ns = req.ts_ns
        eio = state.eio or query.eio or 4
        if req.method == "POST":
            state.note(req.ts_ns, _CLIENT, _HTTP, "post", f"POST {len(req.body)} bytes", ex.conn)
            decoded = decode_polling_body(req.body, eio, header(req.headers, "content-type"))
            if resp is not None and resp.status >= 400:
                self._refused_post(state, ex, decoded.packets)
            else:
                for packet in decoded.packets:
                    problems = apply_eio(state, _CLIENT, req.end_ns, packet, ex.conn, -1, "polling")
                    if problems:  # apply_eio itself, not _apply: one call less per packet
                        self._sio_problems(ex.conn, problems)
            if decoded.error:
                self._malformed_payload(state, Side.CLIENT, req.end_ns, decoded.error, ex.conn)
        # _failure is None for any answer below 400: skip the call for the usual 200.
        failure = self._failure(ex, query) if resp is None or resp.status >= 400 else None
        if failure is not None:
            self._record_failure(state, ex, failure)
            return
        if resp is not None and req.method == "GET":
            decoded = decode_polling_body(resp.body, eio, header(resp.headers, "content-type"))
            for packet in decoded.packets:
                problems = apply_eio(
                    state, _SERVER, resp.end_ns, packet, ex.conn, resp.end_offset, "polling"
                )
                if problems:
                    self._sio_problems(ex.conn, problems)
            if decoded.error:
                self._malformed_payload(state, Side.SERVER, resp.end_ns, decoded.error, ex.conn)

    def _refused_post(
        self, state: SessionState, ex: HttpExchange, packets: tuple[EioPacket, ...]
    ) -> None:
        """Packets of a POST the server refused never reached the session: only a close
        packet among them is kept, marked refused (the client did try to close)."""
        kinds = ",".join(p.type.name.lower() for p in packets)
        state.note(
            ex.request.end_ns,
            Side.CLIENT,
            Layer.EIO,
            "refused",
            f"POST refused by the server; its packets ({kinds}) were not delivered",
            ex.conn,
        )
        for packet in packets:
            if packet.type is EioPacketType.CLOSE:
                state.closes.append(
                    EngineClose(
                        Side.CLIENT,
                        ex.request.end_ns,
                        "eio-close-packet",
                        conn=ex.conn,
                        refused=True,
                    )
                )

    def _failure(self, ex: HttpExchange, query: EioQuery) -> HttpFailure | None:
        resp = ex.response
        transport = query.transport or "?"
        if resp is None:
            abort = ex.abort.value if ex.abort else "no-response"
            if ex.abort is not None and ex.abort.value == "capture-ended":
                return None
            message = ex.error_text or "no response"
            return HttpFailure(
                ex.request.ts_ns, ex.request.method, transport, None, None, message, abort
            )
        if resp.status < 400:
            return None
        err = parse_error_response(resp.status, resp.body, header(resp.headers, "content-type"))
        code = err.code if err else None
        message = err.message if err else resp.reason
        return HttpFailure(resp.ts_ns, ex.request.method, transport, resp.status, code, message)

    def _record_failure(self, state: SessionState, ex: HttpExchange, failure: HttpFailure) -> None:
        state.http_failures.append(failure)
        state.touch(failure.ts_ns)
        if failure.status is None:
            text = f"{failure.method} got no response ({failure.abort}: {failure.message})"
            end_ns = ex.request.ts_ns if ex.response is None else failure.ts_ns
            state.note(failure.ts_ns, None, Layer.HTTP, "aborted", text, ex.conn)
            if failure.abort in ("client-closed", "server-closed", "har-error"):
                state.mark_closed(max(end_ns, state.last_seen_ns), f"polling {text}")
            return
        code = f" code {failure.code}" if failure.code is not None else ""
        text = f"{failure.method} answered {failure.status}{code} {failure.message!r}"
        state.note(failure.ts_ns, Side.SERVER, Layer.HTTP, "http-error", text, ex.conn)
        state.mark_closed(failure.ts_ns, f"server answered {failure.status}{code}")

    def _failed_handshake(self, ex: HttpExchange, query: EioQuery) -> None:
        failure = self._failure(ex, query)
        if failure is None:
            return
        kind = {5: "protocol-mismatch", 4: "auth-rejected", 1: "session-unknown"}.get(
            failure.code or -1, "handshake-failed"
        )
        status = failure.status if failure.status is not None else failure.abort
        text = (
            f"handshake {ex.request.method} EIO={query.eio} answered {status} {failure.message!r}"
        )
        self.observations.append(Observation(kind, ex.request.ts_ns, None, ex.client, text))

    def _upgrade_refused(self, ex: HttpExchange, query: EioQuery) -> None:
        """A websocket request that got no 101: refused upgrade or websocket-only handshake."""
        failure = self._failure(ex, query)
        status = "no response" if ex.response is None else str(ex.response.status)
        message = failure.message if failure else ""
        state = self._sessions.get(query.sid or "")
        text = f"websocket request answered {status} {message!r}".strip()
        if state is None:
            kind = (
                "protocol-mismatch"
                if failure is not None and failure.code == 5
                else "upgrade-failed"
            )
            self.observations.append(
                Observation(kind, ex.request.ts_ns, query.sid, ex.client, text)
            )
            return
        state.upgrade_failed = True
        state.note(ex.request.ts_ns, None, Layer.HTTP, "upgrade-refused", text, ex.conn)
        self.observations.append(
            Observation("upgrade-failed", ex.request.ts_ns, state.sid, ex.client, text)
        )
