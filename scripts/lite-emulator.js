// Shared launcher for the npm emulators built on the same server shape
// (kinesalite, dynalite): bind 127.0.0.1 only, print one "NAME listening URL"
// line when ready, exit on SIGTERM/SIGINT/SIGHUP, and optionally when stdin
// closes (so a parent that dies, even by SIGKILL, takes the emulator with it).
// Used by scripts/kinesalite.js and scripts/dynalite.js.
'use strict';

const path = require('path');

const HOST = '127.0.0.1';

function load(name, mod) {
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
    process.stderr.write(`${name}: module '${mod}' not installed; run scripts/install-emulators.sh (or make test)\n`);
    process.exit(2);
  }
}

function parseArgs(name, defaultPort, argv, envPort, envExit) {
  let port = envPort !== undefined && envPort !== '' ? envPort : String(defaultPort);
  let exitOnEOF = envExit === '1';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port' || a === '-p') port = argv[++i];
    else if (a.startsWith('--port=')) port = a.slice(7);
    else if (a === '--exit-on-stdin-eof') exitOnEOF = true;
    else if (/^\d+$/.test(a)) port = a;
    else {
      process.stderr.write(`${name}: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  const n = Number(port);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    process.stderr.write(`${name}: bad port ${port}\n`);
    process.exit(2);
  }
  return { port: n, exitOnEOF };
}

// run starts emulator NAME (the npm module of the same name) with options
// on 127.0.0.1. ENV is the prefix of its environment settings
// (<ENV>_PORT, <ENV>_EXIT_ON_STDIN_EOF).
module.exports = function run(name, env, defaultPort, options) {
  const opts = parseArgs(name, defaultPort, process.argv.slice(2),
    process.env[env + '_PORT'], process.env[env + '_EXIT_ON_STDIN_EOF']);
  const server = load(name, name)(options);

  server.on('error', (err) => {
    process.stderr.write(`${name}: ${err.code === 'EADDRINUSE' ? `port ${opts.port} already in use` : err.message}\n`);
    process.exit(1);
  });
  server.listen(opts.port, HOST, () => {
    const a = server.address();
    process.stdout.write(`${name} listening http://${HOST}:${a.port}\n`);
  });

  const quit = () => process.exit(0);
  process.on('SIGTERM', quit);
  process.on('SIGINT', quit);
  process.on('SIGHUP', quit);
  if (opts.exitOnEOF) {
    process.stdin.on('end', quit);
    process.stdin.on('close', quit);
    process.stdin.on('error', quit);
    process.stdin.resume();
  }
};
