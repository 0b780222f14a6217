"use strict";
// The lab's socket.io server (server.js, unchanged) served over HTTPS / wss.
//
// A throwaway self-signed certificate for 127.0.0.1 is made with openssl at start, in
// --certDir (the run's git-ignored work directory), and never leaves it: what a capture needs
// to be read is the TLS key log, which node writes when started with --tls-keylog=FILE.
// server.js creates its server with http.createServer(); here that one call is pointed at
// https.createServer with the certificate, so both peers share every hook and command.

const fs = require("fs");
const http = require("http");
const https = require("https");
const path = require("path");
const { execFileSync } = require("child_process");
const common = require("./common");

const args = common.parseArgs(process.argv.slice(2));
if (!args.certDir) throw new Error("--certDir is required");

/** Key and certificate (subjectAltName IP:127.0.0.1, valid one day) in certDir. */
function makeCertificate(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const keyFile = path.join(dir, "key.pem");
  const certFile = path.join(dir, "cert.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
     "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", keyFile, "-out", certFile],
    { stdio: "pipe" },
  );
  return { key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) };
}

const credentials = makeCertificate(args.certDir);
http.createServer = (...rest) => https.createServer(credentials, ...rest);
require("./server");
