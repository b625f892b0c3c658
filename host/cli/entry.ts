// Entry point of the bundled command (build/cli.js).
import { run } from './main.ts';

// A parent that went away (Ctrl-C reaches the whole process group) must not crash a node
// that is still logging its clean shutdown.
process.stdout.on('error', () => {});

await run();
