"use strict";
// A hand-driven Engine.IO v4 websocket client built on `ws`, for packets no real client
// library would send (malformed frames). It speaks just enough protocol to open a session,
// connect the main namespace, answer pings, then send the frames given in --send.
// It is not a socket.io library, so it reports no reasons: its ws close code goes to a note.

const WebSocket = require("ws");
const common = require("./common");

const args = common.parseArgs(process.argv.slice(2));
const peer = args.peer || "raw-1";
const log = common.makeLogger("client", peer, common.libLabel("ws"));
const frames = args.send || [];
const url = `${args.url}/socket.io/?EIO=4&transport=websocket&peer=${encodeURIComponent(peer)}`;

let sid = null;
const ws = new WebSocket(url);

function sendPlanned() {
  frames.forEach((frame, i) => {
    setTimeout(() => {
      log("note", { text: `raw client sends ${JSON.stringify(frame)}`, sid });
      ws.send(frame);
    }, (args.delay || 300) * (i + 1));
  });
}

ws.on("message", (data) => {
  const text = data.toString();
  if (text.startsWith("0")) {
    const open = JSON.parse(text.slice(1));
    sid = open.sid;
    log("engine_open", {
      sid,
      transport: "websocket",
      pingInterval: open.pingInterval,
      pingTimeout: open.pingTimeout,
    });
    ws.send("40");
  } else if (text.startsWith("40")) {
    const body = JSON.parse(text.slice(2) || "{}");
    log("socket_connect", { sid, nsp: "/", socket_id: body.sid || null, recovered: null });
    sendPlanned();
  } else if (text === "2") {
    ws.send("3");
  }
});

ws.on("close", (code, reason) =>
  log("note", { kind: "ws_close", sid, text: `ws closed code=${code} reason=${JSON.stringify(reason.toString())}` }),
);
ws.on("error", (err) => log("note", { kind: "ws_error", sid, text: common.describe(err) }));
log("note", { kind: "versions", versions: { node: process.version, ws: common.packageVersion("ws") } });
