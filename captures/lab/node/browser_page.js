"use strict";
// A headless Chromium page (Debian's chromium driven by playwright-core, never a downloaded
// browser) that loads the lab page from the socket.io server and records a HAR. The page's
// socket.io client logs through an exposed binding (no extra traffic); this driver writes
// those records to $LAB_EVENTS and turns stdin commands into page actions.
//
// Arguments: --url (page URL, without query) --peer (label) --har (HAR path) --opts (Manager
// options for the page's client). Commands: emit {event, bytes}, disconnect, close_page,
// reload, offline {on}, finish (close the context, which writes the HAR, then exit).

const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");
const common = require("./common");

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const BUNDLE = path.join(__dirname, "..", "node_modules", "socket.io", "client-dist", "socket.io.js");

const args = common.parseArgs(process.argv.slice(2));
const peer = args.peer || "browser-1";

/** Version in the bundle's banner ("Socket.IO v4.8.4"): the client the page really runs. */
function bundleVersion() {
  const head = fs.readFileSync(BUNDLE, "utf8").slice(0, 200);
  const match = /Socket\.IO v(\S+)/.exec(head);
  return match ? match[1] : "unknown";
}

const clientVersion = bundleVersion();
const log = common.makeLogger("client", peer, `socket.io-client@${clientVersion} (browser bundle)`);

function pageUrl() {
  const query = new URLSearchParams({ peer, opts: JSON.stringify(args.opts || {}) });
  return `${args.url}?${query}`;
}

async function openPage() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  const context = await browser.newContext({ recordHar: { path: args.har, content: "embed" } });
  // The page hooks reuse common.js's describe() so descriptions read as the node peers' do.
  await context.addInitScript({ content: `window.labDescribe = ${common.describe.toString()};` });
  await context.exposeBinding("labLog", (_source, who, event, fields) => log(event, fields, who));
  log("note", {
    kind: "versions",
    versions: {
      node: process.version,
      chromium: browser.version(),
      "playwright-core": common.packageVersion("playwright-core"),
      "socket.io-client": clientVersion,
    },
  });
  log("note", { text: `chromium ${browser.version()} headless, flags ${CHROMIUM_FLAGS.join(" ")}` });
  const page = await context.newPage();
  await page.goto(pageUrl());
  return { browser, context, page };
}

async function finish(state) {
  await state.context.close(); // writes the HAR
  await state.browser.close();
  log("note", { kind: "har_written", path: path.basename(args.har) });
  process.exit(0);
}

function commands(state) {
  return async (cmd) => {
    switch (cmd.cmd) {
      case "emit":
        await state.page.evaluate(([event, bytes]) => window.labEmit(event, bytes), [
          cmd.event || "upload",
          cmd.bytes || 16,
        ]);
        break;
      case "disconnect":
        await state.page.evaluate(() => window.labDisconnect());
        break;
      case "close_page":
        await state.page.close();
        break;
      case "reload":
        await state.page.reload();
        break;
      case "offline":
        await state.context.setOffline(Boolean(cmd.on));
        break;
      case "finish":
        await finish(state);
        break;
      default:
        log("note", { text: `unknown command ${cmd.cmd}` });
    }
  };
}

openPage().then(
  (state) => common.onCommands(commands(state), log),
  (err) => {
    log("note", { text: `browser did not start: ${common.describe(err)}` });
    process.exit(1);
  },
);
