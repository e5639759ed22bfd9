#!/usr/bin/env node
// Starts dynalite 4.0.0 (DynamoDB emulator) on 127.0.0.1 only.
//
//   node scripts/dynalite.js [PORT] [--port PORT] [--exit-on-stdin-eof]
//
// PORT: argument, else $DYNALITE_PORT, else 8000. Port 0 picks a free port.
// Tables stay CREATING/DELETING/UPDATING for 50 ms; data in memory.
// When listening it prints one line to stdout:
//
//   dynalite listening http://127.0.0.1:PORT
//
// Exits on SIGTERM/SIGINT, and with --exit-on-stdin-eof (or
// DYNALITE_EXIT_ON_STDIN_EOF=1) when its stdin is closed, so a parent that
// dies cannot leak it.
'use strict';

const path = require('path');

const NAME = 'dynalite';
const HOST = '127.0.0.1';
const DEFAULT_PORT = 8000;

function load(mod) {
  const local = path.join(__dirname, '..', '.tools', 'node', 'node_modules', mod);
  try {
    return require(local);
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') throw e;
  }
  try {
    return require(mod);
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') throw e;
    process.stderr.write(`${NAME}: module '${mod}' not installed; run scripts/install-emulators.sh (or make test)\n`);
    process.exit(2);
  }
}

function parseArgs(argv, envPort, envExit) {
  let port = envPort !== undefined && envPort !== '' ? envPort : String(DEFAULT_PORT);
  let exitOnEOF = envExit === '1';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port' || a === '-p') port = argv[++i];
    else if (a.startsWith('--port=')) port = a.slice(7);
    else if (a === '--exit-on-stdin-eof') exitOnEOF = true;
    else if (/^\d+$/.test(a)) port = a;
    else {
      process.stderr.write(`${NAME}: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  const n = Number(port);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    process.stderr.write(`${NAME}: bad port ${port}\n`);
    process.exit(2);
  }
  return { port: n, exitOnEOF };
}

const opts = parseArgs(process.argv.slice(2), process.env.DYNALITE_PORT, process.env.DYNALITE_EXIT_ON_STDIN_EOF);
const dynalite = load('dynalite');
const server = dynalite({
  createTableMs: 50,
  deleteTableMs: 50,
  updateTableMs: 50,
});

server.on('error', (err) => {
  process.stderr.write(`${NAME}: ${err.code === 'EADDRINUSE' ? `port ${opts.port} already in use` : err.message}\n`);
  process.exit(1);
});

server.listen(opts.port, HOST, () => {
  const a = server.address();
  process.stdout.write(`${NAME} listening http://${HOST}:${a.port}\n`);
});

function quit() {
  process.exit(0);
}
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
process.on('SIGHUP', quit);
if (opts.exitOnEOF) {
  process.stdin.on('end', quit);
  process.stdin.on('close', quit);
  process.stdin.on('error', quit);
  process.stdin.resume();
}
