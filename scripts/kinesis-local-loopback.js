// Node preload for kinesis-local (kinesis-mock), which binds 0.0.0.0 and has
// no setting for the host. Use it as
//
//   KINESIS_MOCK_CERT_PATH=.tools/node/node_modules/kinesis-local/server.json \
//   KINESIS_MOCK_PLAIN_PORT=4568 KINESIS_MOCK_TLS_PORT=4567 \
//   node -r ./scripts/kinesis-local-loopback.js .tools/node/node_modules/kinesis-local/main.js
//
// It rewrites every net.Server.prototype.listen call that has no host, or the
// wildcard host (0.0.0.0, ::, empty), to listen on 127.0.0.1 only, and prints
// one line per bound socket to stderr:
//
//   kinesis-local-loopback: listening 127.0.0.1:4568
//
// It also makes SIGTERM/SIGINT exit at once (kinesis-mock may otherwise hang in
// its graceful shutdown under load), and, when KINESIS_LOCAL_EXIT_ON_STDIN_EOF=1,
// exits when its stdin is closed (so a test runner that dies cannot leak it).
'use strict';

const net = require('net');

const LOOPBACK = process.env.KINESIS_LOCAL_BIND_HOST || '127.0.0.1';
const WILDCARDS = new Set([undefined, null, '', '0.0.0.0', '::', '[::]', '::0']);

const origListen = net.Server.prototype.listen;

net.Server.prototype.listen = function listen(...args) {
  if (args.length > 0) {
    const first = args[0];
    if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
      // listen(options[, cb]); a handle or a unix path is left alone.
      if (first.path === undefined && first.handle === undefined && first._handle === undefined &&
          first.fd === undefined && WILDCARDS.has(first.host)) {
        args[0] = Object.assign({}, first, { host: LOOPBACK });
      }
    } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
      // listen(port[, host][, backlog][, cb])
      const second = args[1];
      if (typeof second === 'string') {
        if (WILDCARDS.has(second)) args[1] = LOOPBACK;
      } else {
        // no host given: insert one
        args.splice(1, 0, LOOPBACK);
      }
    } else if (first === undefined || typeof first === 'function') {
      // listen() / listen(cb): random port on all interfaces -> loopback
      args.unshift(0, LOOPBACK);
      if (args[2] === undefined) args.splice(2, 1);
    }
  }
  this.once('listening', () => {
    const a = this.address();
    if (a && typeof a === 'object') {
      process.stderr.write(`kinesis-local-loopback: listening ${a.address}:${a.port}\n`);
    }
  });
  return origListen.apply(this, args);
};

// kinesis-mock (cats-effect IOApp) replaces process.exit with a graceful
// shutdown that can take seconds; keep the real one.
const realExit = process.exit.bind(process);
function quit() {
  realExit(0);
}
process.on('SIGTERM', quit);
process.on('SIGINT', quit);

if (process.env.KINESIS_LOCAL_EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', quit);
  process.stdin.on('close', quit);
  process.stdin.on('error', quit);
  process.stdin.resume();
}
