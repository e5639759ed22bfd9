#!/usr/bin/env node
// Starts kinesalite 3.3.3 on 127.0.0.1 only (its own CLI binds every interface).
//
//   node scripts/kinesalite.js [PORT] [--port PORT] [--exit-on-stdin-eof]
//
// PORT: argument, else $KINESALITE_PORT, else 4567. Port 0 picks a free port.
// Streams stay CREATING/DELETING/UPDATING for 50 ms; shard limit 100; data in memory.
// When listening it prints one line to stdout:
//
//   kinesalite listening http://127.0.0.1:PORT
//
// Exits on SIGTERM/SIGINT, and with --exit-on-stdin-eof (or
// KINESALITE_EXIT_ON_STDIN_EOF=1) when its stdin is closed, so a parent that
// dies cannot leak it.
'use strict';

require('./lite-emulator')('kinesalite', 'KINESALITE', 4567, { createStreamMs: 50, deleteStreamMs: 50, updateStreamMs: 50, shardLimit: 100 });
