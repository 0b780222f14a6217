"use strict";
// Reports the proxy in front of the servers (nginx) the way the other peers report
// themselves: a `versions` note from `nginx -v` and a `settings` note, scoped "nginx", with
// the directives the scenario rendered into the config. It logs and exits; nginx itself is
// a separate process the lab starts and stops by pid.

const { spawnSync } = require("child_process");
const common = require("./common");

const args = common.parseArgs(process.argv.slice(2));
const peer = args.peer || "nginx";

/** `nginx -v` prints "nginx version: nginx/1.22.1" on stderr; keep "1.22.1". */
function nginxVersion() {
  const run = spawnSync(args.binary || "nginx", ["-v"], { encoding: "utf8" });
  const m = /nginx\/(\S+)/.exec(`${run.stdout || ""}${run.stderr || ""}`);
  return m ? m[1] : "unknown";
}

const version = nginxVersion();
const log = common.makeLogger("proxy", peer, `nginx@${version}`);
log("note", { kind: "versions", versions: { nginx: version } });
log("note", { kind: "settings", scope: "nginx", settings: args.settings || {} });
