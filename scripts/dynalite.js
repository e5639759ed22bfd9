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

require('./lite-emulator')('dynalite', 'DYNALITE', 8000, { createTableMs: 50, deleteTableMs: 50, updateTableMs: 50 });
