// The V8 flags every node process runs with (host/cli/node-flags.ts) reach it by both ways a
// user starts one: `hsmpool up` passes them to the nodes it spawns, and bin/hsmpool.js carries
// them in its `#!` line, which must still start the command when run as an executable. The
// thread pool's size comes in the environment `up` gives its nodes.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import {
  NODE_V8_FLAGS,
  THREADPOOL_SIZE_MAX,
  THREADPOOL_SIZE_MIN,
  nodeProcessEnv,
  nodeThreadpoolSize,
} from '../../host/cli/node-flags.ts';
import { nodeProcessArgs } from '../../host/cli/up-command.ts';

const BIN = new URL('../../bin/hsmpool.js', import.meta.url).pathname;

it('hsmpool up starts each node with the V8 flags, before the script', () => {
  const args = nodeProcessArgs('/tmp/pool/node-1');
  expect(NODE_V8_FLAGS.length).toBeGreaterThan(0);
  expect(args.slice(0, NODE_V8_FLAGS.length)).toEqual([...NODE_V8_FLAGS]);
  expect(args.slice(-4)).toEqual(['node', '--data', '/tmp/pool/node-1', '--json']);
});

it("bin/hsmpool.js's #! line names the same flags and runs the command", () => {
  const shebang = readFileSync(BIN, 'utf8').split('\n')[0];
  expect(shebang).toBe(`#!/usr/bin/env -S node ${NODE_V8_FLAGS.join(' ')}`);
  const help = execFileSync(BIN, ['--help'], { encoding: 'utf8' });
  expect(help).toContain('Usage: hsmpool <command>');
});

it("a node's thread pool: the cores, 2 to 4, unless the environment names its own", () => {
  expect(nodeThreadpoolSize(1)).toBe(THREADPOOL_SIZE_MIN);
  expect(nodeThreadpoolSize(2)).toBe(2);
  expect(nodeThreadpoolSize(3)).toBe(3);
  expect(nodeThreadpoolSize(64)).toBe(THREADPOOL_SIZE_MAX);
  const given = { PATH: '/bin', UV_THREADPOOL_SIZE: '16' };
  expect(nodeProcessEnv(given)).toEqual(given);
  const unset = nodeProcessEnv({ PATH: '/bin' });
  expect(unset).toEqual({ PATH: '/bin', UV_THREADPOOL_SIZE: String(nodeThreadpoolSize()) });
  expect(nodeProcessEnv({ UV_THREADPOOL_SIZE: '' }).UV_THREADPOOL_SIZE).toBe(
    String(nodeThreadpoolSize()),
  );
});
