"use strict";
// A socket.io server peer (4.x by default, 2.x with --lib=v2) configured from arguments and
// driven by JSON commands on stdin. See ../README.md for the argument and command lists.

const http = require("http");
const common = require("./common");

const args = common.parseArgs(process.argv.slice(2));
const libKey = args.lib || "v4";
const alias = common.LIBS[libKey].server;
const peer = args.peer || "server";
const log = common.makeLogger("server", peer, common.libLabel(alias));

/** Options for the socket.io Server constructor, only those the scenario set. */
function serverOptions() {
  const opts = {};
  for (const key of [
    "pingInterval",
    "pingTimeout",
    "maxHttpBufferSize",
    "perMessageDeflate",
    "httpCompression",
    "transports",
    "allowEIO3",
    "allowUpgrades",
    "upgradeTimeout",
    "connectTimeout",
  ]) {
    if (args[key] !== undefined) opts[key] = args[key];
  }
  return opts;
}

/** What the engine actually runs with (engine.io 6 keeps `opts`, 3.x plain properties). */
function effectiveSettings(engine) {
  const src = engine.opts || engine;
  const out = {};
  for (const key of [
    "pingInterval",
    "pingTimeout",
    "maxHttpBufferSize",
    "transports",
    "allowUpgrades",
    "upgradeTimeout",
    "allowEIO3",
    "perMessageDeflate",
    "httpCompression",
  ]) {
    if (src[key] !== undefined) out[key] = common.plain(src[key]);
  }
  if (args.connectTimeout !== undefined) out.connectTimeout = args.connectTimeout;
  return out;
}

function createIo(httpServer) {
  const mod = require(alias);
  if (libKey === "v2") return mod(httpServer, serverOptions());
  return new mod.Server(httpServer, serverOptions());
}

/**
 * With --serveWeb, answer plain HTTP requests with the lab page from ../web (browser
 * scenarios); socket.io still answers /socket.io/ first. Without it nothing changes.
 */
function webHandler() {
  const fs = require("fs");
  const path = require("path");
  const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8" };
  const files = { "/": "index.html", "/index.html": "index.html", "/lab.js": "lab.js" };
  return (req, res) => {
    const name = files[new URL(req.url, "http://lab").pathname];
    if (!name) {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
      return;
    }
    const body = fs.readFileSync(path.join(__dirname, "..", "web", name));
    res.writeHead(200, { "Content-Type": types[path.extname(name)], "Cache-Control": "no-cache" });
    res.end(body);
  };
}

const httpServer = args.serveWeb ? http.createServer(webHandler()) : http.createServer();
const io = createIo(httpServer);
const engine = io.engine || io.eio;
common.hookServerEngine(engine, log, engine.opts || engine);

const rejectPeers = new Set(args.rejectPeers || []);
if (args.rejectAll || rejectPeers.size > 0) {
  // Connection-level middleware: rejects the main namespace handshake.
  io.use((socket, next) => {
    const who = common.queryParam(socket.conn.request, "peer");
    if (args.rejectAll || rejectPeers.has(who)) return next(new Error(args.rejectMessage || "not authorized"));
    return next();
  });
}

function payload(bytes, binary) {
  return binary ? Buffer.alloc(bytes, 0xab) : "x".repeat(bytes);
}

/** Application handlers every namespace gets: acks, echo, binary round trips. */
function attachHandlers(socket) {
  common.hookServerSocket(socket, log);
  socket.on("upload", (data, ack) => {
    const size = Buffer.isBuffer(data) ? data.length : JSON.stringify(data).length;
    if (typeof ack === "function") ack({ received: size }, Buffer.from([1, 2, 3, size & 0xff]));
  });
  socket.on("echo", (data, ack) => {
    if (typeof ack === "function") ack(data);
  });
}

const namespaces = args.namespaces || ["/"];
const rejectNsp = args.rejectNsp || {};
for (const name of namespaces) {
  const nsp = io.of(name);
  if (rejectNsp[name]) nsp.use((_socket, next) => next(new Error(rejectNsp[name])));
  nsp.on("connection", attachHandlers);
}

/** Namespace sockets matching a command's optional `peer` and `nsp`. */
function matchingSockets(cmd) {
  const found = [];
  for (const name of namespaces) {
    if (cmd.nsp && cmd.nsp !== name) continue;
    const sockets = io.of(name).sockets;
    const list = sockets instanceof Map ? [...sockets.values()] : Object.values(sockets);
    for (const socket of list) {
      const who = common.queryParam(socket.conn.request, "peer");
      if (!cmd.peer || cmd.peer === who || (Array.isArray(cmd.peer) && cmd.peer.includes(who))) {
        found.push(socket);
      }
    }
  }
  return found;
}

function emitTo(cmd) {
  for (const socket of matchingSockets(cmd)) {
    const data = payload(cmd.bytes || 16, Boolean(cmd.binary));
    if (!cmd.ack) {
      socket.emit(cmd.event || "download", data);
      continue;
    }
    socket.emit(cmd.event || "download", data, (...reply) =>
      log("note", { text: `ack from ${socket.id}: ${common.summarize(reply)}` }),
    );
  }
}

common.onCommands((cmd) => {
  switch (cmd.cmd) {
    case "kick":
      for (const socket of matchingSockets(cmd)) socket.disconnect(Boolean(cmd.close));
      break;
    case "close_io":
      io.close();
      break;
    case "block":
      log("note", { text: `blocking the event loop for ${cmd.ms} ms` });
      common.busyWait(cmd.ms);
      log("note", { text: "event loop unblocked" });
      break;
    case "emit":
      emitTo(cmd);
      break;
    case "exit":
      process.exit(0);
      break;
    default:
      log("note", { text: `unknown command ${cmd.cmd}` });
  }
}, log);

httpServer.listen(args.port, "127.0.0.1", () => {
  log("note", {
    kind: "versions",
    versions: {
      node: process.version,
      [common.libLabel(alias).split("@")[0]]: common.packageVersion(alias),
      "engine.io": common.nestedVersion(alias, "engine.io"),
    },
  });
  log("note", { kind: "settings", settings: effectiveSettings(engine) });
  log("note", { kind: "listening", port: httpServer.address().port });
});
