"use strict";
// The page's socket.io client (the browser bundle the server serves) with the same hooks as
// node/common.js: every record copies only what the library passed to its handlers. Records
// leave the page through the `labLog` binding the Playwright driver exposes, so logging adds
// no network traffic. `labDescribe` is node/common.js's describe(), injected by the driver.
//
// URL query: `peer` (label; a reload gets `<peer>-load<N>` because it is a new page with a
// new client) and `opts` (JSON Manager options, e.g. {"transports": ["polling"]}).

(() => {
  const params = new URLSearchParams(window.location.search);
  const loads = Number(window.sessionStorage.getItem("labLoads") || "0") + 1;
  window.sessionStorage.setItem("labLoads", String(loads));
  const base = params.get("peer") || "browser-1";
  const peer = loads === 1 ? base : `${base}-load${loads}`;
  const opts = JSON.parse(params.get("opts") || "{}");

  const log = (event, fields = {}) => {
    window.labLog(peer, event, { t: Date.now() / 1000, ...fields });
  };
  const orNull = (value) => (value === undefined ? null : value);

  const socket = window.io({ ...opts, query: { peer }, auth: { peer } });
  const manager = socket.io;
  let openSid = null;

  manager.on("open", () => {
    const engine = manager.engine;
    const sid = engine.id;
    openSid = sid;
    log("engine_open", {
      sid,
      transport: engine.transport ? engine.transport.name : null,
      pingInterval: orNull(engine.pingInterval),
      pingTimeout: orNull(engine.pingTimeout),
    });
    engine.on("upgrade", (transport) =>
      log("engine_upgrade", { sid, transport: transport ? transport.name : null }),
    );
    engine.on("close", (reason, description) => {
      log("engine_close", { sid, reason: orNull(reason), description: labDescribe(description) });
      // Handlers of this same task still belong to the closing session; later ones do not.
      setTimeout(() => {
        if (openSid === sid) openSid = null;
      }, 0);
    });
  });
  manager.on("reconnect_attempt", (attempt) => log("reconnect_attempt", { attempt }));

  // The client forgets socket.id before "disconnect": remember what "connect" saw.
  let connectedSid = null;
  let connectedId = null;
  socket.on("connect", () => {
    connectedSid = openSid;
    connectedId = orNull(socket.id);
    log("socket_connect", {
      sid: connectedSid,
      nsp: "/",
      socket_id: connectedId,
      recovered: orNull(socket.recovered),
    });
  });
  socket.on("disconnect", (reason, details) =>
    log("socket_disconnect", {
      sid: connectedSid,
      nsp: "/",
      socket_id: connectedId,
      reason: orNull(reason),
      description: labDescribe(details),
    }),
  );
  socket.on("connect_error", (err) =>
    log("connect_error", {
      sid: openSid,
      nsp: "/",
      message: err && err.message !== undefined ? err.message : labDescribe(err),
      data: err && err.data !== undefined ? err.data : null,
      description: err && err.description !== undefined ? labDescribe(err.description) : null,
    }),
  );

  // Not a library event: says whether the browser told the page it went offline/online.
  for (const kind of ["offline", "online"]) {
    window.addEventListener(kind, () => log("note", { text: `page got the ${kind} event` }));
  }

  const shortened = (value) =>
    value instanceof ArrayBuffer ? `<${value.byteLength} bytes>` : value;

  /** Called by the driver through page.evaluate (no network traffic). */
  window.labEmit = (event, bytes) =>
    socket.emit(event, "p".repeat(bytes), (...reply) =>
      log("note", { kind: "ack", text: `ack for ${event}: ${JSON.stringify(reply.map(shortened))}` }),
    );
  window.labDisconnect = () => socket.disconnect();
})();
