// Bad files are refused before anything changes (host/cli/startup-check.ts, recovery.ts): a
// real `hsmpool node` process on a data directory with one damaged or inconsistent file exits
// with EXIT.DATA (3), names the file and a documented code, and leaves the directory byte for
// byte as it was — even with a torn tail in its log that a successful start would cut.
// The directories are made in this process by a one-node pool on file storage with small
// checkpoints, then handed to build/cli.js.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  readFileSync,
  readdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
  appendFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Appliance } from '../../host/appliance/appliance.ts';
import { writeNodeDirectory, type NodeConfig } from '../../host/cli/config.ts';
import { freePort } from '../../host/testing/free-port.node.ts';
import { Random } from '../../host/protocol/random.ts';
import { FileStorage } from '../../host/storage/file.node.ts';
import { MemoryHub, MemoryTransport } from '../../host/transport/memory.ts';
import { TEST_SVMK, keyedCore } from '../fixtures.ts';
import { commitAlone, objectWrites } from '../pool-writes.ts';
import { CLI, startNodeProcess, stop, scratchDir } from '../processes.ts';
import { toNodeId } from '../../host/wire/ids.ts';

const root = scratchDir('startup');

/** Every file's path and bytes, hashed (the lock file included: a refusal must remove its own). */
function treeHash(dir: string): string {
  const hash = createHash('sha256');
  const walk = (at: string): void => {
    for (const name of readdirSync(at).sort()) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else
        hash
          .update(`${relative(dir, path)}\0`)
          .update(readFileSync(path))
          .update('\0');
    }
  };
  walk(dir);
  return hash.digest('hex');
}

/** A one-node pool's directory: `writes` committed, checkpoints every 2 KiB of log; calls
 * `during(i)` after each write (to copy files mid-history). */
async function makeDirectory(
  name: string,
  writes: number,
  during: (i: number, dir: string) => void = () => {},
): Promise<string> {
  const dir = join(root, name);
  const port = await freePort();
  const id = toNodeId('00000000000000a1');
  const address = `127.0.0.1:${port}`;
  const config: NodeConfig = {
    version: 1,
    id,
    domain: 'startup',
    poolId: '00000000000000b2',
    listen: address,
    founders: [{ id, address }],
  };
  writeNodeDirectory(dir, config, TEST_SVMK);
  const storage = await FileStorage.open(dir);
  const appliance = await Appliance.open({
    id,
    address,
    domain: config.domain,
    poolId: BigInt(`0x${config.poolId}`),
    founders: config.founders,
    storage,
    core: keyedCore(),
    random: new Random(3),
    transport: new MemoryTransport({ hub: new MemoryHub(), nodeId: id, address, svmk: TEST_SVMK }),
    checkpointBytes: 2048,
  });
  const write = objectWrites(91);
  for (let i = 0; i < writes; i++) {
    await commitAlone(appliance, write(`k${i}`));
    during(i, dir);
  }
  await appliance.close();
  return dir;
}

/** `hsmpool node --data DIR --json` until it exits (or 60 s): its exit code and stderr. */
function runToExit(dir: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'node', '--data', dir, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdout.on('data', (chunk) => {
      // A node that starts is not what these cases expect: stop it so the test reports it.
      if (String(chunk).includes('"event":"ready"')) child.kill('SIGTERM');
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${dir}: still running after 60 s`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** A torn append at the log's end: what a successful start cuts, a refused one must keep. */
const tearLog = (dir: string): void =>
  appendFileSync(join(dir, 'log'), Buffer.from('HPLG\x01torn'));

describe('hsmpool node refuses bad files before it changes anything', () => {
  it.each([
    [
      'a damaged node cache',
      (dir: string) => writeFileSync(join(dir, 'meta', 'node-cache'), '{"00000000000000a2": '),
      /meta\/node-cache: not JSON.*META_DAMAGED \(38314\)|META_DAMAGED \(38314\).*meta\/node-cache: not JSON/s,
    ],
    [
      'a node cache of the wrong shape',
      (dir: string) => writeFileSync(join(dir, 'meta', 'node-cache'), '{"00000000000000a2": 7001}'),
      /META_DAMAGED \(38314\).*meta\/node-cache: node 00000000000000a2: 7001 is not a host:port/s,
    ],
    [
      'a damaged node.json',
      (dir: string) => writeFileSync(join(dir, 'node.json'), '{"version": 1, "id": '),
      /META_DAMAGED \(38314\).*node\.json: not JSON/s,
    ],
    [
      'a node.json without founders',
      (dir: string) => {
        const config = JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8')) as object;
        writeFileSync(join(dir, 'node.json'), JSON.stringify({ ...config, founders: {} }));
      },
      /META_DAMAGED \(38314\).*node\.json: not a node configuration of version 1: founders/s,
    ],
    [
      'a damaged bootstrap.json',
      (dir: string) => writeFileSync(join(dir, 'bootstrap.json'), '{"requestId": "00'),
      /META_DAMAGED \(38314\).*bootstrap\.json: not JSON/s,
    ],
    [
      'a deleted request-outcomes file',
      (dir: string) => unlinkSync(join(dir, 'meta', 'request-outcomes')),
      /REQUEST_OUTCOMES_MISSING \(38316\): meta\/request-outcomes is missing/,
    ],
    [
      'a damaged request-outcomes file',
      (dir: string) => appendFileSync(join(dir, 'meta', 'request-outcomes'), Buffer.of(0)),
      /CANNOT_LOAD_LOG \(37027\): request outcomes \(meta\/request-outcomes\)/,
    ],
    [
      'a damaged transaction-outcomes file',
      (dir: string) => appendFileSync(join(dir, 'meta', 'transaction-outcomes'), Buffer.of(0)),
      /CANNOT_LOAD_LOG \(37027\): transaction outcomes/,
    ],
  ])(
    '%s: exit 3, the file and the code named, the directory unchanged',
    async (name, damage, expected) => {
      const dir = await makeDirectory(name.replace(/\W+/g, '-'), 30);
      damage(dir);
      tearLog(dir);
      const before = treeHash(dir);
      const { code, stderr } = await runToExit(dir);
      expect(stderr).toMatch(expected);
      expect(stderr).not.toMatch(/SyntaxError|    at /);
      expect(code).toBe(3);
      expect(treeHash(dir)).toBe(before);
    },
    90_000,
  );

  it('a log rolled back under a newer checkpoint snapshot, or an older request-outcomes file: refused, unchanged', async () => {
    let oldLog: Buffer | undefined;
    let oldOutcomes: Buffer | undefined;
    const dir = await makeDirectory('rolled-back', 40, (i, at) => {
      if (i !== 12) return;
      oldLog = readFileSync(join(at, 'log'));
      oldOutcomes = readFileSync(join(at, 'meta', 'request-outcomes'));
    });
    const log = readFileSync(join(dir, 'log'));
    const outcomes = readFileSync(join(dir, 'meta', 'request-outcomes'));

    writeFileSync(join(dir, 'log'), oldLog!);
    tearLog(dir);
    let before = treeHash(dir);
    let run = await runToExit(dir);
    expect(run.stderr).toMatch(
      /LOG_ROLLED_BACK \(38315\): snapshots\/checkpoint-\d{20} was written at log sequence \d+, but the log ends at sequence \d+/,
    );
    expect(run.code).toBe(3);
    expect(treeHash(dir)).toBe(before);

    writeFileSync(join(dir, 'log'), log);
    writeFileSync(join(dir, 'meta', 'request-outcomes'), oldOutcomes!);
    tearLog(dir);
    before = treeHash(dir);
    run = await runToExit(dir);
    expect(run.stderr).toMatch(
      /REQUEST_OUTCOMES_MISSING \(38316\): meta\/request-outcomes belongs with a checkpoint at sequence \d+ \(SP [0-9A-F]{16}\), not with this log, whose newest is at sequence \d+/,
    );
    expect(run.code).toBe(3);
    expect(treeHash(dir)).toBe(before);

    // The files that go together start, and the torn tail is cut then.
    writeFileSync(join(dir, 'meta', 'request-outcomes'), outcomes);
    const node = await startNodeProcess(['--data', dir]);
    expect(node.events.find((e) => e.event === 'ready')).toMatchObject({ records: 40 });
    await stop(node);
    expect(readFileSync(join(dir, 'log'))).toEqual(log);
  }, 120_000);
});
