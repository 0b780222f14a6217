"use strict";
// One or more socket.io-client peers (4.x by default, 2.x with --lib=v2) in one process,
// each with its own Manager (one Engine.IO session at a time) and one socket per namespace.
// Driven by JSON commands on stdin; see ../README.md.

const common = require("./common");

const args = common.parseArgs(process.argv.slice(2));
const libKey = args.lib || "v4";
const alias = common.LIBS[libKey].client;
const lib = require(alias);
const peers = args.peers || [args.peer || "client-1"];
const namespaces = args.namespaces || ["/"];
const loggers = new Map(peers.map((p) => [p, common.makeLogger("client", p, common.libLabel(alias))]));

/** Manager options, only those the scenario set, plus the peer label in the query. */
function managerOptions(peer) {
  const opts = { forceNew: true, query: { peer } };
  for (const key of [
    "transports",
    "upgrade",
    "reconnection",
    "reconnectionAttempts",
    "reconnectionDelay",
    "reconnectionDelayMax",
    "timeout",
    "perMessageDeflate",
    "rememberUpgrade",
  ]) {
    if (args[key] !== undefined) opts[key] = args[key];
  }
  return opts;
}

function payload(bytes, binary) {
  return binary ? Buffer.alloc(bytes, 0xcd) : "y".repeat(bytes);
}

/** Start one peer: a manager and its namespace sockets. */
function startPeer(peer) {
  const log = loggers.get(peer);
  const manager = new lib.Manager(args.url, managerOptions(peer));
  common.hookClientManager(manager, log);
  const sockets = new Map();
  for (const nsp of namespaces) {
    const opts = libKey === "v2" ? {} : { auth: { peer, ...(args.auth || {}) } };
    const socket = manager.socket(nsp, opts);
    common.hookClientSocket(socket, nsp, manager, log);
    socket.on("download", (data, ack) => {
      const size = Buffer.isBuffer(data) ? data.length : String(data).length;
      if (typeof ack === "function") ack({ got: size }, Buffer.from([9, 8, 7]));
    });
    sockets.set(nsp, socket);
  }
  return { peer, log, manager, sockets };
}

const running = peers.map(startPeer);

function selected(cmd) {
  const wanted = cmd.peer === undefined ? null : [].concat(cmd.peer);
  return running.filter((p) => wanted === null || wanted.includes(p.peer));
}

function emitFrom(state, cmd) {
  const socket = state.sockets.get(cmd.nsp || "/");
  const data = payload(cmd.bytes || 16, Boolean(cmd.binary));
  if (!cmd.ack) {
    socket.emit(cmd.event || "upload", data);
    return;
  }
  socket.emit(cmd.event || "upload", data, (...reply) =>
    state.log("note", { text: `ack for ${cmd.event || "upload"}: ${common.summarize(reply)}` }),
  );
}

common.onCommands((cmd) => {
  for (const state of selected(cmd)) {
    switch (cmd.cmd) {
      case "disconnect":
        for (const [nsp, socket] of state.sockets) {
          if (!cmd.nsp || cmd.nsp === nsp) socket.disconnect();
        }
        break;
      case "emit":
        emitFrom(state, cmd);
        break;
      case "exit":
        process.exit(0);
        break;
      default:
        state.log("note", { text: `unknown command ${cmd.cmd}` });
    }
  }
}, loggers.get(peers[0]));

loggers.get(peers[0])("note", {
  kind: "versions",
  versions: {
    node: process.version,
    [common.libLabel(alias).split("@")[0]]: common.packageVersion(alias),
    "engine.io-client": common.nestedVersion(alias, "engine.io-client"),
  },
});
