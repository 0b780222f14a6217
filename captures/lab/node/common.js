"use strict";
// Shared helpers for every node peer of the capture lab: the JSONL event logger, the
// library hooks that record what socket.io / engine.io themselves report, argument
// parsing and the stdin command channel the Python runner drives peers with.
//
// Truth rule: hooks only copy the arguments the libraries pass to their handlers.

const fs = require("fs");
const path = require("path");
const readline = require("readline");

const LIBS = {
  v4: { server: "socket.io", client: "socket.io-client" },
  v2: { server: "socket.io-v2", client: "socket.io-client-v2" },
};

/** Version of an installed package, read from its package.json (aliases included). */
function packageVersion(name) {
  const file = path.join(__dirname, "..", "node_modules", name, "package.json");
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")).version;
  } catch (_err) {
    return "unknown";
  }
}

/** Version of a dependency as node resolves it from inside another package (nested first). */
function nestedVersion(parent, name) {
  const top = path.join(__dirname, "..", "node_modules");
  for (const dir of [path.join(top, parent, "node_modules", name), path.join(top, name)]) {
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).version;
    } catch (_err) {
      // not installed here; try the next place node would look
    }
  }
  return "unknown";
}

/** "socket.io-v2" -> "socket.io@2.5.1": the real package name, never the npm alias. */
function libLabel(alias) {
  const real = alias.replace(/-v\d+$/, "");
  return `${real}@${packageVersion(alias)}`;
}

/** Parse `--key=value` / `--flag` arguments; values are JSON when they parse as JSON. */
function parseArgs(argv) {
  const out = {};
  for (const arg of argv) {
    const m = /^--([^=]+)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new Error(`bad argument: ${arg}`);
    const [, key, raw] = m;
    if (raw === undefined) {
      out[key] = true;
      continue;
    }
    try {
      out[key] = JSON.parse(raw);
    } catch (_err) {
      out[key] = raw;
    }
  }
  return out;
}

/** Turn whatever a library passed as "description"/"details" into a string or null. */
function describe(value) {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (value instanceof Error) {
    const extra = value.description !== undefined ? ` (${describe(value.description)})` : "";
    return `${value.name}: ${value.message}${extra}`;
  }
  if (typeof value === "object") {
    const picked = {};
    for (const key of ["description", "message", "type", "code", "reason", "status"]) {
      if (value[key] !== undefined && typeof value[key] !== "function") {
        picked[key] = typeof value[key] === "object" ? describe(value[key]) : value[key];
      }
    }
    if (value.context && typeof value.context === "object") {
      const ctx = value.context;
      for (const key of ["code", "reason", "status", "statusText", "responseText", "type"]) {
        if (ctx[key] !== undefined && typeof ctx[key] !== "function" && ctx[key] !== "") {
          picked[`context.${key}`] = ctx[key];
        }
      }
    }
    return JSON.stringify(picked);
  }
  return String(value);
}

/** Short JSON text of handler arguments for notes; Buffers shown by their length. */
function summarize(value) {
  return JSON.stringify(value, (_key, v) =>
    v && v.type === "Buffer" && Array.isArray(v.data) ? `<${v.data.length} bytes>` : v,
  );
}

/** A JSON-safe copy of arbitrary error data (it may hold cycles, Buffers, requests). */
function plain(value) {
  if (value === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(value));
  } catch (_err) {
    return describe(value);
  }
}

/**
 * Logger appending one JSON line per event to $LAB_EVENTS, synchronously, so a peer
 * killed with SIGKILL loses nothing it had already logged.
 */
function makeLogger(side, peer, lib) {
  const file = process.env.LAB_EVENTS;
  if (!file) throw new Error("LAB_EVENTS is not set");
  return function log(event, fields = {}, who = peer) {
    const rec = { t: Date.now() / 1000, side, peer: who, lib, event, ...fields };
    fs.appendFileSync(file, JSON.stringify(rec) + "\n");
  };
}

/** Query parameter of a handshake request (the client's peer label travels there). */
function queryParam(req, name) {
  if (!req || !req.url) return null;
  try {
    return new URL(req.url, "http://lab").searchParams.get(name);
  } catch (_err) {
    return null;
  }
}

/**
 * Engine.IO protocol of a server session. engine.io >= 4 records it as `protocol`;
 * engine.io 3.x (socket.io 2.x) has no such field because it speaks only v3.
 */
function engineProtocol(conn) {
  if (conn.protocol === undefined) return 3;
  return conn.protocol === 3 ? 3 : 4;
}

/** Server engine hooks: sessions opening, upgrading, closing, and handshake errors. */
function hookServerEngine(engine, log, engineOpts) {
  engine.on("connection", (conn) => {
    const clientPeer = queryParam(conn.request, "peer");
    log("engine_open", {
      sid: conn.id,
      transport: conn.transport.name,
      eio: engineProtocol(conn),
      client_peer: clientPeer,
      pingInterval: engineOpts.pingInterval,
      pingTimeout: engineOpts.pingTimeout,
    });
    conn.on("upgrade", (transport) =>
      log("engine_upgrade", { sid: conn.id, transport: transport.name, client_peer: clientPeer }),
    );
    conn.on("close", (reason, description) =>
      log("engine_close", {
        sid: conn.id,
        reason: reason === undefined ? null : reason,
        description: describe(description),
        client_peer: clientPeer,
      }),
    );
  });
  engine.on("connection_error", (err) =>
    log("connection_error", {
      code: err.code === undefined ? null : err.code,
      message: err.message === undefined ? null : err.message,
      context: plain(err.context),
      client_peer: queryParam(err.req, "peer"),
    }),
  );
}

/** Server socket hooks: a namespace socket connecting and disconnecting. */
function hookServerSocket(socket, log) {
  const sid = socket.conn.id;
  const clientPeer = queryParam(socket.conn.request, "peer");
  const nsp = socket.nsp.name;
  log("socket_connect", {
    sid,
    nsp,
    socket_id: socket.id,
    recovered: socket.recovered === undefined ? null : socket.recovered,
    client_peer: clientPeer,
  });
  socket.on("disconnect", (reason, details) =>
    log("socket_disconnect", {
      sid,
      nsp,
      socket_id: socket.id,
      reason: reason === undefined ? null : reason,
      description: describe(details),
      client_peer: clientPeer,
    }),
  );
}

/**
 * Client manager hooks. The engine object is replaced on every (re)connection, so the
 * engine hooks are attached again on each manager "open".
 */
function hookClientManager(manager, log) {
  const hookEngine = () => {
    const engine = manager.engine;
    const sid = engine.id;
    manager.labOpenSid = sid;
    log("engine_open", {
      sid,
      transport: engine.transport ? engine.transport.name : null,
      pingInterval: engine.pingInterval === undefined ? null : engine.pingInterval,
      pingTimeout: engine.pingTimeout === undefined ? null : engine.pingTimeout,
    });
    engine.on("upgrade", (transport) =>
      log("engine_upgrade", { sid, transport: transport ? transport.name : null }),
    );
    engine.on("close", (reason, description) => {
      log("engine_close", {
        sid,
        reason: reason === undefined ? null : reason,
        description: describe(description),
      });
      // Handlers running in this same tick (a CONNECT_ERROR that made the client close
      // its engine) still belong to this session; later ones do not.
      setImmediate(() => {
        if (manager.labOpenSid === sid) manager.labOpenSid = null;
      });
    });
  };
  manager.on("open", hookEngine);
  manager.on("reconnect_attempt", (attempt) => log("reconnect_attempt", { attempt }));
}

/**
 * Client socket hooks for one namespace. The client forgets `socket.id` before it emits
 * "disconnect", so the id and engine sid seen at connect time are remembered here.
 */
function hookClientSocket(socket, nsp, manager, log) {
  const engineSid = () => manager.labOpenSid || null;
  let connectedSid = null;
  let connectedId = null;
  socket.on("connect", () => {
    connectedSid = engineSid();
    connectedId = socket.id === undefined ? null : socket.id;
    log("socket_connect", {
      sid: connectedSid,
      nsp,
      socket_id: connectedId,
      recovered: socket.recovered === undefined ? null : socket.recovered,
    });
  });
  socket.on("disconnect", (reason, details) =>
    log("socket_disconnect", {
      sid: connectedSid,
      nsp,
      socket_id: connectedId,
      reason: reason === undefined ? null : reason,
      description: describe(details),
    }),
  );
  socket.on("connect_error", (err) =>
    log("connect_error", {
      sid: engineSid(),
      nsp,
      message: err && err.message !== undefined ? err.message : describe(err),
      data: err && err.data !== undefined ? plain(err.data) : null,
      description: err && err.description !== undefined ? describe(err.description) : null,
    }),
  );
  // socket.io-client 2.x reports namespace middleware rejections as "error".
  socket.on("error", (err) =>
    log("connect_error", {
      sid: engineSid(),
      nsp,
      message: typeof err === "string" ? err : describe(err),
      data: null,
      description: "socket 'error' event",
    }),
  );
}

/** Call `handler(cmd)` for every JSON line the runner writes to stdin. */
function onCommands(handler, log) {
  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    if (!line.trim()) return;
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (_err) {
      log("note", { text: `ignored bad command line: ${line}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(cmd))
      .catch((err) => log("note", { text: `command ${cmd.cmd} failed: ${describe(err)}` }));
  });
}

/** Block the event loop on purpose (server-stalled scenarios). */
function busyWait(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // spin: timers, pings and I/O all wait
  }
}

module.exports = {
  LIBS,
  busyWait,
  describe,
  hookClientManager,
  hookClientSocket,
  hookServerEngine,
  hookServerSocket,
  libLabel,
  makeLogger,
  nestedVersion,
  onCommands,
  packageVersion,
  parseArgs,
  plain,
  summarize,
  queryParam,
};
