#!/usr/bin/env -S node --max-semi-space-size=4
// The hsmpool command: the bundle `npm run build` writes to build/cli.js. The `#!` line carries
// the V8 flags every node runs with (host/cli/node-flags.ts says why; a test keeps them equal).
import '../build/cli.js';
