"""Headless Chromium: the page's own socket.io client, a HAR recorded by Playwright.

The socket.io 4.8 node server also serves the lab page (``web/``) and the browser bundle;
``node/browser_page.js`` drives Debian's chromium through playwright-core. Each run writes
the pcap and, after the capture stopped, the HAR (Playwright writes it when the browser
context closes, and that close must stay out of the capture).
"""

from __future__ import annotations

from typing import Any, ClassVar

from captures.lab.scenario import JsonDict, LabContext, Peer, Scenario
from captures.lab.scenarios.helpers import (
    CLIENT_LEAVES,
    PING_INTERVAL_MS,
    lose_network,
    start_server,
)

PAGE_PEER = "browser-1"
#: A reloaded page is a new client: the page labels itself ``<peer>-load<N>`` (web/lab.js).
RELOADED_PEER = f"{PAGE_PEER}-load2"
HAR_WORK_FILE = "browser.har"
HAR_WRITE_TIMEOUT_S = 15.0
RECONNECT_FAST: dict[str, Any] = {"reconnectionDelay": 300, "reconnectionDelayMax": 600}
PAGE_GONE = {"server_close": "transport close", "client_close": None, "client_disconnect": None}


class BrowserScenario(Scenario):
    """A server serving the page, one Chromium page on it; the HAR is saved after capture."""

    family = "browser-chromium"
    port = 3080
    time_limit = 30.0
    har = HAR_WORK_FILE
    #: Manager options the page's client gets (URL query ``opts``).
    page_options: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        self._browser: Peer | None = None  # the driver of the current run, for after_capture

    def open_page(self, ctx: LabContext, upgraded: bool = True) -> Peer:
        """Server, browser, page connected (and upgraded unless polling only)."""
        start_server(ctx, serveWeb=True)
        self._browser = ctx.node(
            "browser_page",
            "browser",
            url=f"{ctx.url}/",
            peer=PAGE_PEER,
            har=str(ctx.work_path(HAR_WORK_FILE)),
            opts=self.page_options,
        )
        ctx.wait_for("socket_connect", side="client", peer=PAGE_PEER, timeout=20)
        if upgraded:
            ctx.wait_for("engine_upgrade", side="client", peer=PAGE_PEER, timeout=10)
        return self._browser

    def exchange(self, ctx: LabContext, browser: Peer) -> None:
        """Some traffic before the fault: one event with a binary ack, then a heartbeat."""
        ctx.send(browser, "emit", event="upload", bytes=64)
        ctx.wait_for("note", kind="ack", peer=PAGE_PEER, timeout=5)
        ctx.sleep(PING_INTERVAL_MS / 1000 + 0.2)

    def after_capture(self, ctx: LabContext) -> None:
        browser, self._browser = self._browser, None
        if browser is None:
            return
        ctx.cont(browser)
        ctx.send(browser, "finish")
        ctx.wait_for("note", kind="har_written", timeout=HAR_WRITE_TIMEOUT_S)


class PageEnds(BrowserScenario):
    """Page connected (upgraded unless polling-only), some traffic, then ``page_command``
    ends its session; the server notices."""

    #: The browser driver's command that ends the session (``disconnect``, ``close_page``).
    page_command: ClassVar[str]

    def run(self, ctx: LabContext) -> None:
        browser = self.open_page(ctx, upgraded=self.page_options.get("transports") != ["polling"])
        self.exchange(ctx, browser)
        ctx.send(browser, self.page_command)
        ctx.wait_for("engine_close", side="server", timeout=5)
        ctx.sleep(1.0)


class BrowserDisconnect(PageEnds):
    name = "browser-disconnect"
    description = (
        "The page's client upgrades to websocket and exchanges an event, then the page "
        "calls socket.disconnect()."
    )
    root_cause = "client-disconnect"
    page_command = "disconnect"
    expected: ClassVar = {"browser-*": CLIENT_LEAVES}


class BrowserPageClose(PageEnds):
    name = "browser-page-close"
    description = (
        "The page's client upgrades to websocket and exchanges an event, then the tab is "
        "closed (page.close()): the page itself reports nothing."
    )
    root_cause = "client-left"
    page_command = "close_page"
    expected: ClassVar = {
        "browser-*": {**PAGE_GONE, "server_disconnect": "transport close"},
    }


class BrowserPollingClose(PageEnds):
    name = "browser-polling-close"
    description = (
        "Polling-only page client (transports ['polling']); the tab is closed while its "
        "long-poll GET is pending."
    )
    root_cause = "client-left"
    page_command = "close_page"
    page_options: ClassVar[dict[str, Any]] = {"transports": ["polling"]}
    expected: ClassVar = {
        "browser-*": {
            **PAGE_GONE,
            "server_close": "transport error",
            "server_disconnect": "transport error",
        },
    }


class BrowserReload(BrowserScenario):
    name = "browser-reload"
    description = (
        "The page is reloaded (page.reload()) after upgrading to websocket: the old page's "
        "session ends and the new page opens a new one at once (a new client, labelled "
        f"{RELOADED_PEER}, so no previous_sid)."
    )
    root_cause = "client-reload"
    expected: ClassVar = {PAGE_PEER: PAGE_GONE}

    def run(self, ctx: LabContext) -> None:
        browser = self.open_page(ctx)
        self.exchange(ctx, browser)
        ctx.send(browser, "reload")
        ctx.wait_for("socket_connect", side="client", peer=RELOADED_PEER, timeout=10)
        ctx.wait_for("engine_upgrade", side="client", peer=RELOADED_PEER, timeout=10)
        ctx.sleep(1.0)

    def session_root_cause(self, session: JsonDict) -> str:
        if session["peer"] == PAGE_PEER:
            return self.root_cause
        return super().session_root_cause(session)


class BrowserOffline(BrowserScenario):
    """Loss by an nft drop, not Playwright's ``context.setOffline(true)``: with Chromium 156
    that emulation fires no ``offline`` event in the page, keeps the TCP connection up (the
    kernel ACKs the server's pings, the page never sees them) and even answers the server's
    close frame, which is not what a lost network looks like on the wire."""

    name = "browser-offline"
    description = (
        "Network loss seen from a browser: the path to the server drops every packet (nft) "
        "until both sides time out, then it comes back and the page's client reconnects."
    )
    root_cause = "network-loss"
    page_options: ClassVar[dict[str, Any]] = RECONNECT_FAST
    expected: ClassVar = {
        "browser-*": {"server_close": "ping timeout", "client_close": "ping timeout"},
    }

    def run(self, ctx: LabContext) -> None:
        self.open_page(ctx)
        lose_network(ctx)
        ctx.sleep(1.0)
        ctx.restore_network()
        ctx.wait_for("socket_connect", side="client", peer=PAGE_PEER, count=2, timeout=10)
        ctx.sleep(1.0)

    def session_root_cause(self, session: JsonDict) -> str:
        if session["previous_sid"] is None:
            return self.root_cause
        return super().session_root_cause(session)


SCENARIOS: tuple[Scenario, ...] = (
    BrowserDisconnect(),
    BrowserPageClose(),
    BrowserReload(),
    BrowserPollingClose(),
    BrowserOffline(),
)
