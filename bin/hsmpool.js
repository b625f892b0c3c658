#!/usr/bin/env node
// The hsmpool command: the bundle `npm run build` writes to build/cli.js.
import '../build/cli.js';
